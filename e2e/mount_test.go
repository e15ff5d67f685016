//go:build fuse && linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fsm/desktop"
	"fsm/guard"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/webdav"
)

// A browser uploads from a path that a desktop WebDAV client made, with no
// FUSE of fsm's: (b) the gvfs path that desktop.Mount (fsm serve --mount)
// gives on Linux, and (c) an `rclone mount :webdav:` over fsm, standing in
// for Finder's webdavfs. The origin and the website are each throttled to
// the same total rate, so download alone and upload alone each take
// size/rate: an upload that streams alongside the download finishes in
// about that time, one that waits for the download in twice that.

const (
	mountFileSize = 60 * 1000 * 1000
	mountRate     = 30 * 1000 * 1000 // bytes per second, origin and website each
)

// pacer spreads bytes over time at rate bytes per second in total, however
// many connections share it. Idle time earns at most pacerSlack of credit:
// enough to make up for sleeps that overshoot (a multipart reader hands
// out 4 KiB at a time, a fraction of a timer's latency), too little to let
// a burst through.
type pacer struct {
	rate int64
	mu   sync.Mutex // guards next
	next time.Time  // when the bytes reserved so far have all gone out
}

// pacerChunk is the most one wait reserves, so the flow stays smooth.
const pacerChunk = 32 << 10

const pacerSlack = 20 * time.Millisecond

func (p *pacer) wait(ctx context.Context, n int) error {
	d := time.Duration(int64(n) * int64(time.Second) / p.rate)
	p.mu.Lock()
	if floor := time.Now().Add(-pacerSlack); p.next.Before(floor) {
		p.next = floor
	}
	p.next = p.next.Add(d)
	at := p.next
	p.mu.Unlock()
	wait := time.Until(at)
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// pacedWriter paces a response body through a pacer.
type pacedWriter struct {
	http.ResponseWriter
	ctx context.Context
	p   *pacer
}

func (w *pacedWriter) Write(b []byte) (int, error) {
	var n int
	for len(b) > 0 {
		k := min(len(b), pacerChunk)
		if err := w.p.wait(w.ctx, k); err != nil {
			return n, err
		}
		m, err := w.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

// Unwrap lets http.ResponseController reach the real writer's Flush.
func (w *pacedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pacedReader paces a request body through a pacer.
type pacedReader struct {
	io.ReadCloser
	ctx context.Context
	p   *pacer
}

func (r *pacedReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b[:min(len(b), pacerChunk)])
	if n > 0 {
		if werr := r.p.wait(r.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// davRig is one staged file behind a throttled origin, served by fsm's
// WebDAV handler in process; it records which client sent each GET.
type davRig struct {
	rig
	url string // the WebDAV root, http://127.0.0.1:PORT/

	mu   sync.Mutex // guards gets
	gets []string   // User-Agent of each GET fsm answered
}

func newDavRig(t *testing.T, sink *logSink) *davRig {
	t.Helper()
	log := newLogger(sink)
	content := testorigin.Content{Seed: 41, Size: mountFileSize}
	origin := testorigin.New(t, testorigin.Options{Content: content, Name: "/" + fileName})
	paced := &pacer{rate: mountRate}
	throttled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		origin.ServeHTTP(&pacedWriter{ResponseWriter: w, ctx: req.Context(), p: paced}, req)
	}))
	t.Cleanup(throttled.Close)

	fsys, _ := fsmtest.Tree(t, store.Options{Logger: log})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	file, err := fsys.Stage(ctx, throttled.URL+"/"+fileName, fileName)
	if err != nil {
		t.Fatal(err)
	}
	if p := file.Progress(); p.Present != 0 || p.Size != content.Size {
		t.Fatalf("freshly staged file: %+v, want nothing downloaded of %d bytes", p, content.Size)
	}
	r := &davRig{rig: rig{content: content, origin: origin, file: file}}
	dav := guard.Host(webdav.NewHandler(fsys, webdav.Options{Logger: log}), nil, "127.0.0.1:0")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet {
			r.mu.Lock()
			r.gets = append(r.gets, req.UserAgent())
			r.mu.Unlock()
		}
		dav.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/"
	return r
}

// checkClient: every GET fsm answered came from the client named (so the
// browser's reads went through it), and there was at least one.
func (r *davRig) checkClient(t *testing.T, client string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.gets) == 0 {
		t.Errorf("fsm answered no GET: the browser did not read through %s", client)
	}
	for _, ua := range r.gets {
		if !strings.Contains(strings.ToLower(ua), client) {
			t.Errorf("a GET came from %q, not %s", ua, client)
		}
	}
	t.Logf("fsm answered %d GETs, all from %s (%v)", len(r.gets), client, r.gets)
}

// mountPage is an upload page with an ordinary multipart form and a
// fetch() uploader of the same file.
const mountPage = `<!doctype html><html><head><title>upload</title></head><body>
<form method=post enctype=multipart/form-data action=/upload>
<input type=file name=f id=f><button id=go>Upload</button>
</form>
<script>
async function fetchUpload() {
	const fd = new FormData();
	fd.append('f', document.getElementById('f').files[0]);
	const r = await fetch('/upload', {method: 'POST', body: fd});
	const text = await r.text();
	if (!r.ok) throw new Error(r.status + ' ' + text);
	return r.status;
}
</script></body></html>`

// mountSite serves mountPage and takes uploads at /upload, reading each
// body at mountRate; the first upload's outcome goes on the channel.
func mountSite(t *testing.T, want testorigin.Content, progress func() store.Progress) (*httptest.Server, <-chan received) {
	results := make(chan received, 1)
	paced := &pacer{rate: mountRate}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, mountPage)
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, req *http.Request) {
		req.Body = &pacedReader{ReadCloser: req.Body, ctx: req.Context(), p: paced}
		res := receive(req, want, progress)
		select {
		case results <- res:
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "<!doctype html><title>failed</title><p id=err>%s</p>", res.err)
			return
		}
		fmt.Fprintf(w, "<!doctype html><title>done</title><p>received <span id=n>%d</span> bytes, sha256 <span id=sum>%s</span></p>", res.n, res.sum)
	})
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	return site, results
}

type uploadMode string

const (
	formUpload  uploadMode = "form"
	fetchUpload uploadMode = "fetch"
)

// browserUpload has Chromium upload r.path to a throttled website the way
// mode says, checks what arrived, and returns the wall time from the click
// to the last byte received.
func browserUpload(t *testing.T, sink *logSink, r *davRig, mode uploadMode) time.Duration {
	t.Helper()
	site, results := mountSite(t, r.content, r.file.Progress)
	ctx := newBrowser(t, sink)
	var facts fileFacts
	run(t, ctx, "choose",
		chromedp.Navigate(site.URL+"/"),
		chromedp.SetUploadFiles("#f", []string{r.path}, chromedp.ByID),
		chromedp.Evaluate(factsJS, &facts),
	)
	r.checkFacts(t, facts)
	start := time.Now()
	switch mode {
	case formUpload:
		var sum string
		run(t, ctx, "form upload", chromedp.Click("#go", chromedp.ByID), chromedp.Text("#sum", &sum, chromedp.ByID))
	case fetchUpload:
		var status int
		run(t, ctx, "fetch upload", chromedp.Evaluate("fetchUpload()", &status, awaitPromise))
		if status != http.StatusOK {
			t.Errorf("fetch upload: status %d", status)
		}
	}
	var res received
	select {
	case res = <-results:
	case <-ctx.Done():
		t.Fatalf("no upload result: %v", context.Cause(ctx))
	}
	wall := time.Since(start)
	if res.err != nil {
		t.Fatalf("upload: %v", res.err)
	}
	if want := r.sha256Of(); res.filename != fileName || res.n != r.content.Size || res.sum != want || res.mismatchAt >= 0 {
		t.Fatalf("server received %q: %d bytes sha256 %s (first wrong byte at %d), want %q: %d bytes sha256 %s",
			res.filename, res.n, res.sum, res.mismatchAt, fileName, r.content.Size, want)
	}
	// The overlap: the website had the file's first bytes while fsm was
	// still downloading it from the origin.
	t.Logf("%s upload: %v for %d bytes at %d B/s each way (ratio %.2f to one transfer alone); downloaded when the first bytes arrived: %d of %d",
		mode, wall.Round(time.Millisecond), r.content.Size, mountRate, ratio(wall), res.atFirst.Present, r.content.Size)
	if res.atFirst.Present >= r.content.Size || res.atFirst.State == store.StateComplete {
		t.Errorf("upload started only after the download finished: %+v", res.atFirst)
	}
	if p := r.file.Progress(); p.Err != nil || p.State == store.StateFailed {
		t.Errorf("download: %+v", p)
	}
	return wall
}

// ratio is wall over the time one transfer alone takes (download and upload
// run at the same rate): 1.0 is perfect overlap, 2.0 download-then-upload.
func ratio(wall time.Duration) float64 {
	alone := time.Duration(int64(mountFileSize) * int64(time.Second) / mountRate)
	return float64(wall) / float64(alone)
}

// TestBrowserUploadFromGvfs (path b): the file is picked from the local path
// that desktop.Mount made with gvfs in a private D-Bus session.
func TestBrowserUploadFromGvfs(t *testing.T) {
	chromiumPath(t)
	s := fsmtest.NewGvfsSession(t)
	for _, mode := range []uploadMode{formUpload, fetchUpload} {
		t.Run(string(mode), func(t *testing.T) {
			sink := newLogSink(t)
			r := newDavRig(t, sink)
			r.path = mountGvfs(t, s, sink, r.url)
			browserUpload(t, sink, r, mode)
			r.checkClient(t, "gvfs")
		})
	}
}

// mountGvfs mounts url through desktop.Mount and returns the staged file's
// path in it; unmounted at cleanup.
func mountGvfs(t testing.TB, s *fsmtest.GvfsSession, sink *logSink, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := desktop.Mount(ctx, url, desktop.Options{Logger: newLogger(sink), Env: s.Env})
	if err != nil {
		t.Fatalf("desktop.Mount: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := m.Unmount(ctx); err != nil {
			t.Errorf("desktop Unmount: %v", err)
		}
	})
	return filepath.Join(m.Path(), fileName)
}

// TestBrowserUploadFromRclone (path c): the file is picked from an
// `rclone mount :webdav:` of fsm, read-only, in a temp dir.
func TestBrowserUploadFromRclone(t *testing.T) {
	chromiumPath(t)
	for _, mode := range []uploadMode{formUpload, fetchUpload} {
		t.Run(string(mode), func(t *testing.T) {
			sink := newLogSink(t)
			r := newDavRig(t, sink)
			r.path = filepath.Join(mountRclone(t, r.url), fileName)
			browserUpload(t, sink, r, mode)
			r.checkClient(t, "rclone")
		})
	}
}

// mountRclone mounts url with rclone into a new temp dir and unmounts it
// at cleanup.
func mountRclone(t testing.TB, url string) string {
	t.Helper()
	for _, n := range []string{"rclone", "fusermount3"} {
		if _, err := exec.LookPath(n); err != nil {
			fsmtest.EnvLimit(t, "%s is not installed (Debian packages rclone, fuse3): %v", n, err)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		fsmtest.EnvLimit(t, "rclone mount needs /dev/fuse: %v", err)
	}
	dir := t.TempDir()
	scratch := t.TempDir()
	conf := filepath.Join(scratch, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(scratch, "rclone.log")
	cmd := exec.Command("rclone", "mount", ":webdav:", dir, "--webdav-url="+url,
		"--read-only", "--vfs-cache-mode=off", "--log-file="+logFile, "-v")
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Registered after the TempDirs, so it runs before their removal.
	t.Cleanup(func() {
		if fsmtest.Mounted(dir) {
			if out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput(); err != nil {
				t.Logf("fusermount3 -u: %v %s", err, out)
				exec.Command("fusermount3", "-uz", dir).Run()
			}
		}
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("rclone log:\n%s", b)
		}
	})
	fsmtest.Eventually(t, "rclone mount", func() bool {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logFile)
			t.Fatalf("rclone mount exited: %v\n%s", err, b)
		default:
		}
		return fsmtest.Mounted(dir)
	})
	return dir
}

func newLogger(sink *logSink) *slog.Logger {
	return slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
