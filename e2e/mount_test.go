//go:build fuse && linux

package e2e

import (
	"bufio"
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
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fsm/desktop"
	"fsm/fuse"
	"fsm/guard"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
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

// mountContent is the file every origin here serves.
var mountContent = testorigin.Content{Seed: 41, Size: mountFileSize}

// davRig is one staged file behind a throttled origin, served by fsm's
// WebDAV handler in process; it records which client sent each GET.
type davRig struct {
	rig
	fsys *vfs.FS
	url  string // the WebDAV root, http://127.0.0.1:PORT/

	mu   sync.Mutex // guards gets
	gets []string   // User-Agent of each GET fsm answered
}

// originLimit is where the origin's bandwidth limit sits.
type originLimit string

const (
	// sharedLimit: mountRate for all connections together, as when the
	// user's downlink is the bottleneck.
	sharedLimit originLimit = "shared"
	// perConnLimit: mountRate for each connection, as CDNs limit them.
	perConnLimit originLimit = "per-conn"
)

func newDavRig(t testing.TB, log *slog.Logger) *davRig { return newDavRigLimit(t, log, sharedLimit) }

// limitedOrigin serves mountFileSize bytes at /file.bin, limited as limit
// says; it returns the origin (for its request log) and the file's URL.
func limitedOrigin(t testing.TB, limit originLimit) (*testorigin.Origin, string) {
	t.Helper()
	oopts := testorigin.Options{Content: mountContent, Name: "/" + fileName}
	if limit == perConnLimit {
		oopts.BytesPerSecond = mountRate
	}
	origin := testorigin.New(t, oopts)
	var handler http.Handler = origin
	if limit == sharedLimit {
		handler = testorigin.NewLink(mountRate).Handler(origin)
	}
	throttled := httptest.NewServer(handler)
	t.Cleanup(throttled.Close)
	return origin, throttled.URL + "/" + fileName
}

func newDavRigLimit(t testing.TB, log *slog.Logger, limit originLimit) *davRig {
	t.Helper()
	origin, source := limitedOrigin(t, limit)
	content := mountContent

	fsys, _ := fsmtest.Tree(t, store.Options{Logger: log})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	file, err := fsys.Stage(ctx, vfs.Request{URL: source, Name: fileName})
	if err != nil {
		t.Fatal(err)
	}
	if p := file.Progress(); p.Present != 0 || p.Size != content.Size {
		t.Fatalf("freshly staged file: %+v, want nothing downloaded of %d bytes", p, content.Size)
	}
	r := &davRig{rig: rig{content: content, origin: origin, file: file}, fsys: fsys}
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
func (r *davRig) checkClient(t testing.TB, client string) {
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
func mountSite(t testing.TB, want testorigin.Content, progress func() store.Progress) (*httptest.Server, <-chan received) {
	results := make(chan received, 1)
	uplink := testorigin.NewLink(mountRate)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, mountPage)
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, req *http.Request) {
		req.Body = uplink.Reader(req.Context(), req.Body)
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
// mode says and checks what arrived: the origin's bytes, with no
// changed-file failure (newBrowser's context fails on one), the upload
// overlapping the download.
func browserUpload(t *testing.T, sink *logSink, r *davRig, mode uploadMode) {
	t.Helper()
	res, facts, wall := upload(t, newBrowser(t, sink), r.path, r.content, r.file.Progress, mode)
	r.checkFacts(t, facts)
	if want := r.sha256Of(); res.filename != fileName || res.n != r.content.Size || res.sum != want || res.mismatchAt >= 0 {
		t.Fatalf("server received %q: %d bytes sha256 %s (first wrong byte at %d), want %q: %d bytes sha256 %s",
			res.filename, res.n, res.sum, res.mismatchAt, fileName, r.content.Size, want)
	}
	// The overlap: the website had the file's first bytes while fsm was
	// still downloading it from the origin.
	t.Logf("%s upload: %v for %d bytes at %d B/s each way; downloaded when the first bytes arrived: %d of %d",
		mode, wall.Round(time.Millisecond), r.content.Size, mountRate, res.atFirst.Present, r.content.Size)
	if res.atFirst.Present >= r.content.Size || res.atFirst.State == store.StateComplete {
		t.Errorf("upload started only after the download finished: %+v", res.atFirst)
	}
	if p := r.file.Progress(); p.Err != nil || p.State == store.StateFailed {
		t.Errorf("download: %+v", p)
	}
}

// upload has the browser in ctx pick path on a mountSite page and upload
// it the way mode says. It returns what the site received (with progress
// sampled at its first and last bytes), what the browser's File said, and
// the wall time from the click to the last byte received.
func upload(tb testing.TB, ctx context.Context, path string, want testorigin.Content, progress func() store.Progress, mode uploadMode) (received, fileFacts, time.Duration) {
	tb.Helper()
	site, results := mountSite(tb, want, progress)
	do := func(what string, actions ...chromedp.Action) {
		tb.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			if cause := context.Cause(ctx); cause != nil && cause != err {
				err = fmt.Errorf("%w (cause: %v)", err, cause)
			}
			tb.Fatalf("%s: %v", what, err)
		}
	}
	var facts fileFacts
	do("choose",
		chromedp.Navigate(site.URL+"/"),
		chromedp.SetUploadFiles("#f", []string{path}, chromedp.ByID),
		chromedp.Evaluate(factsJS, &facts),
	)
	start := time.Now()
	switch mode {
	case formUpload:
		var sum string
		do("form upload", chromedp.Click("#go", chromedp.ByID), chromedp.Text("#sum", &sum, chromedp.ByID))
	case fetchUpload:
		var status int
		do("fetch upload", chromedp.Evaluate("fetchUpload()", &status, awaitPromise))
		if status != http.StatusOK {
			tb.Errorf("fetch upload: status %d", status)
		}
	}
	var res received
	select {
	case res = <-results:
	case <-ctx.Done():
		tb.Fatalf("no upload result: %v", context.Cause(ctx))
	}
	wall := time.Since(start)
	if res.err != nil {
		tb.Fatalf("upload: %v", res.err)
	}
	return res, facts, wall
}

// TestBrowserUploadFromGvfs (path b): the file is picked from the local path
// that desktop.Mount made with gvfs in a private D-Bus session.
func TestBrowserUploadFromGvfs(t *testing.T) {
	chromiumPath(t)
	for _, mode := range []uploadMode{formUpload, fetchUpload} {
		t.Run(string(mode), func(t *testing.T) {
			// A session each: in a shared one, gvfsd-fuse has been seen to
			// block for many seconds right after the previous mount (with
			// a file the killed browser had open) went away.
			s := fsmtest.NewGvfsSession(t)
			sink := newLogSink(t)
			r := newDavRig(t, newLogger(sink))
			r.path = mountGvfs(t, s, newLogger(sink), r.url)
			browserUpload(t, sink, r, mode)
			r.checkClient(t, "gvfs")
		})
	}
}

// TestBrowserUploadFromServeMount (path b, the real program): `fsm serve
// --mount SOURCE` in a private gvfs session prints the gvfs path; Chromium
// uploads the staged file from it. The website must have the file's first
// bytes before the origin has sent its last, and fsm must unmount at exit.
func TestBrowserUploadFromServeMount(t *testing.T) {
	chromiumPath(t)
	s := fsmtest.NewGvfsSession(t)
	sink := newLogSink(t)
	origin, source := limitedOrigin(t, sharedLimit)
	srv := startServeMount(t, sink, s, source)
	path := filepath.Join(srv.dir, fileName)
	fsmtest.Eventually(t, path+" through the mount", func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() == mountFileSize
	})
	r := &rig{content: mountContent, origin: origin, path: path}
	// What the origin had sent when the website got the first and the
	// last bytes (there is no store in this process to ask).
	sent := func() store.Progress { return store.Progress{Size: mountFileSize, Present: origin.BytesServed()} }
	res, facts, wall := upload(t, newBrowser(t, sink), path, mountContent, sent, formUpload)
	r.checkFacts(t, facts)
	if want := r.sha256Of(); res.filename != fileName || res.n != mountFileSize || res.sum != want || res.mismatchAt >= 0 {
		t.Fatalf("server received %q: %d bytes sha256 %s (first wrong byte at %d), want %q: %d bytes sha256 %s",
			res.filename, res.n, res.sum, res.mismatchAt, fileName, int64(mountFileSize), want)
	}
	t.Logf("upload: %v; the origin had sent %d of %d bytes when the website got the first ones", wall.Round(time.Millisecond), res.atFirst.Present, int64(mountFileSize))
	if res.atFirst.Present >= mountFileSize {
		t.Errorf("the website got its first bytes only after the origin had sent all %d", res.atFirst.Present)
	}
	if code := srv.stop(t); code != 0 {
		t.Errorf("fsm serve exited with %d", code)
	}
	if _, err := s.Gio("info", srv.location); err == nil || !strings.Contains(err.Error(), "not mounted") {
		t.Errorf("after fsm exited, gio info %s: %v; want not mounted", srv.location, err)
	}
}

// serveMount is a running `fsm serve --mount`.
type serveMount struct {
	dir      string // the local path it printed
	location string // dav://HOST:PORT/
	cmd      *exec.Cmd
	done     chan error
}

// startServeMount builds fsm and runs `fsm serve --mount source` on a free
// port inside gvfs session s, and waits for the local path it prints. It
// is stopped in cleanup if the test did not stop it.
func startServeMount(t *testing.T, sink *logSink, s *fsmtest.GvfsSession, source string) *serveMount {
	t.Helper()
	if pkgDirErr != nil {
		t.Fatalf("working directory at start: %v", pkgDirErr)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "fsm")
	build := exec.Command("go", "build", "-o", bin, "../cmd/fsm")
	build.Dir = pkgDir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build fsm: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--cache-dir", filepath.Join(dir, "cache"), "--mount", source)
	cmd.Env = append(append([]string{}, s.Env...), "FSM_TOKEN=", "FSM_ADDR=", "FSM_FUSE=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = sink
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	srv := &serveMount{cmd: cmd, done: make(chan error, 1)}
	printed := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			sink.Logf("fsm stdout: %s", line)
			if strings.HasPrefix(line, s.FuseDir()+"/") {
				select {
				case printed <- line:
				default:
				}
			}
		}
		srv.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if srv.cmd != nil {
			srv.stop(t)
		}
	})
	select {
	case srv.dir = <-printed:
	case err := <-srv.done:
		srv.cmd = nil
		t.Fatalf("fsm serve exited before printing a mount path: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("fsm serve --mount printed no path under " + s.FuseDir())
	}
	host, port, ok := strings.Cut(strings.TrimPrefix(filepath.Base(srv.dir), "dav:host="), ",port=")
	port, _, _ = strings.Cut(port, ",")
	if !ok {
		t.Fatalf("printed path %s is not a gvfs dav path", srv.dir)
	}
	srv.location = "dav://" + host + ":" + port + "/"
	return srv
}

// stop sends SIGTERM and returns the exit code.
func (srv *serveMount) stop(t *testing.T) int {
	t.Helper()
	cmd := srv.cmd
	srv.cmd = nil
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-srv.done
		t.Errorf("fsm serve did not exit within 30 s of SIGTERM")
	}
	return cmd.ProcessState.ExitCode()
}

// mountGvfs mounts url through desktop.Mount and returns the staged file's
// path in it; unmounted at cleanup.
func mountGvfs(t testing.TB, s *fsmtest.GvfsSession, log *slog.Logger, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := desktop.Mount(ctx, url, desktop.Options{Logger: log, Env: s.Env})
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
			r := newDavRig(t, newLogger(sink))
			r.path = filepath.Join(fsmtest.RcloneMount(t, r.url), fileName)
			browserUpload(t, sink, r, mode)
			r.checkClient(t, "rclone")
		})
	}
}

func newLogger(sink *logSink) *slog.Logger {
	return slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// ---------------------------------------------------------------------------
// The benchmark: how close an upload from each path comes to
// max(download, upload).

// BenchmarkBrowserUploadRatio measures, for each path, a browser's form
// upload of a cold staged file against max(download alone, upload alone):
// the download alone is a cold sequential read through the same mount, the
// upload alone the same browser upload of a local copy. 1.0 is perfect
// overlap, 2.0 download-then-upload. The origin's limit is either shared by
// all of fsm's connections (a downlink) or per connection (a CDN's). Run it
// with
//
//	go test -tags fuse,fuse3 -run '^$' -bench BrowserUploadRatio -benchtime 3x ./e2e/
func BenchmarkBrowserUploadRatio(b *testing.B) {
	chromiumPath(b)
	local := filepath.Join(b.TempDir(), fileName)
	content := mountContent
	if err := os.WriteFile(local, content.Bytes(0, content.Size), 0o644); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	paths := []struct {
		name  string
		mount func(b *testing.B, r *davRig) string // the staged file's local path
	}{
		{"fuse", func(b *testing.B, r *davRig) string {
			dir := b.TempDir()
			fsmtest.Require(b, "FUSE", fuse.Check(dir))
			m, err := fuse.Mount(r.fsys, dir, fuse.Options{Logger: log})
			if err != nil {
				b.Fatalf("fuse.Mount: %v", err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if err := m.Unmount(ctx); err != nil {
					b.Errorf("Unmount: %v", err)
				}
			})
			return filepath.Join(dir, fileName)
		}},
		{"gvfs", func(b *testing.B, r *davRig) string {
			return mountGvfs(b, fsmtest.NewGvfsSession(b), log, r.url)
		}},
		{"rclone", func(b *testing.B, r *davRig) string {
			return filepath.Join(fsmtest.RcloneMount(b, r.url), fileName)
		}},
	}
	for _, p := range paths {
		for _, limit := range []originLimit{sharedLimit, perConnLimit} {
			b.Run(p.name+"/"+string(limit), func(b *testing.B) {
				sink := newLogSink(b)
				var sumRatio, sumWall, sumDown, sumUp float64
				for i := 0; i < b.N; i++ {
					down := coldRead(b, p.mount(b, newDavRigLimit(b, log, limit)))
					_, _, up := upload(b, newBrowser(b, sink), local, content, nil, formUpload)
					r := newDavRigLimit(b, log, limit)
					path := p.mount(b, r)
					res, _, wall := upload(b, newBrowser(b, sink), path, content, r.file.Progress, formUpload)
					if res.n != content.Size || res.mismatchAt >= 0 {
						b.Fatalf("upload of %d bytes, first wrong byte at %d", res.n, res.mismatchAt)
					}
					sumRatio += wall.Seconds() / max(down.Seconds(), up.Seconds())
					sumWall += wall.Seconds()
					sumDown += down.Seconds()
					sumUp += up.Seconds()
				}
				n := float64(b.N)
				b.ReportMetric(sumRatio/n, "ratio")
				b.ReportMetric(sumWall/n, "wall-s")
				b.ReportMetric(sumDown/n, "download-s")
				b.ReportMetric(sumUp/n, "upload-s")
			})
		}
	}
}

// coldRead reads path to its end and returns how long that took.
func coldRead(tb testing.TB, path string) time.Duration {
	tb.Helper()
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, make([]byte, 1<<20)); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}
