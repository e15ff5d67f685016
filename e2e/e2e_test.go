//go:build fuse && linux

// Package e2e holds the product's end-to-end proof: a real headless Chromium
// uploads a file that lives behind an HTTP origin, through fsm's FUSE mount,
// while the file is still streaming in.
//
// The tests need a real FUSE mount (build tags fuse,fuse3) and Chromium
// (/usr/bin/chromium, Debian package "chromium"; FSM_E2E_CHROMIUM overrides
// the path). They skip when either is missing, and fail instead when the CI
// environment variable is set. They are Linux-only: the process handling
// (process groups, pidfds, /proc) is.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"fsm/internal/fsmtest"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"golang.org/x/sys/unix"

	"fsm/fuse"
	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
)

const (
	fileName = "file.bin"
	mib      = 1 << 20
	// browserTimeout bounds everything one test does with Chromium.
	browserTimeout = 90 * time.Second
)

func TestMain(m *testing.M) {
	// Only this package's mounts (t.TempDir of a TestBrowser* test): the
	// fuse package's tests, which may run at the same time, make stale
	// mounts on purpose.
	fsmtest.SweepStaleMounts(filepath.Join(os.TempDir(), "TestBrowser"))
	os.Exit(m.Run())
}

// need skips the test when a prerequisite is missing, except under CI where
// a missing prerequisite is a failure.
func need(t testing.TB, what string, err error) {
	t.Helper()
	fsmtest.Require(t, what, err)
}

// chromiumPath finds the browser (override with FSM_E2E_CHROMIUM).
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("FSM_E2E_CHROMIUM"); p != "" {
		return p
	}
	names := []string{"chromium", "chromium-browser", "google-chrome"}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	need(t, "Chromium", fmt.Errorf("none of %v on PATH (Debian: apt-get install chromium)", names))
	return ""
}

// logSink forwards lines to t.Log until the test ends, then drops them
// (the browser and the mount may still log while cleanups run).
type logSink = fsmtest.LogSink

func newLogSink(t testing.TB) *logSink { return fsmtest.NewLogSink(t) }

// rig is one staged file behind a throttled origin, mounted through FUSE.
type rig struct {
	content testorigin.Content
	origin  *testorigin.Origin
	file    *vfs.File
	path    string // the staged file through the mount
}

func newRig(t *testing.T, sink *logSink, oopts testorigin.Options) *rig {
	t.Helper()
	// Prerequisites first, so a machine without them skips before anything starts.
	dir := t.TempDir()
	need(t, "FUSE", fuse.Check(dir))
	chromiumPath(t)

	log := slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelInfo}))
	content := oopts.Content
	oopts.Name = "/" + fileName
	r := &rig{content: content}
	r.origin = testorigin.New(t, oopts)
	fsys, _ := fsmtest.Tree(t, store.Options{Logger: log})
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r.file, err = fsys.Stage(ctx, vfs.Request{URL: r.origin.URL(), Name: fileName})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.file.Progress(); p.Present != 0 || p.Size != content.Size {
		t.Fatalf("freshly staged file: %+v, want nothing downloaded of %d bytes", p, content.Size)
	}

	m, err := fuse.Mount(fsys, dir, fuse.Options{Logger: log})
	if err != nil {
		t.Fatalf("fuse.Mount: %v", err)
	}
	// Registered after the TempDir above, so it runs before its removal.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Unmount(ctx); err != nil {
			t.Errorf("Unmount: %v", err)
		}
	})
	r.path = filepath.Join(dir, fileName)
	return r
}

// sha256Of hashes the origin's content without materialising it.
func (r *rig) sha256Of() string {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r.content, 0, r.content.Size)); err != nil {
		panic(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newBrowser starts a fresh headless Chromium and returns its context,
// bounded by browserTimeout. Chromium is killed in t.Cleanup (before its
// profile directory is removed). The returned context is cancelled, with the
// reason as its cause, when a document or fetch load fails in the browser,
// so such a failure (e.g. net::ERR_UPLOAD_FILE_CHANGED) ends the test at
// once instead of at the timeout.
func newBrowser(t testing.TB, sink *logSink) context.Context {
	t.Helper()
	profile := t.TempDir()
	var cmd *exec.Cmd // Chromium's main process, once started
	var out bytes.Buffer
	var outMu sync.Mutex
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // we may run as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(lockedWriter{&outMu, &out}),
		// Its own process group, so that cleanup can kill and wait for
		// every Chromium process, not just the main one.
		chromedp.ModifyCmdFunc(func(c *exec.Cmd) {
			c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			cmd = c
		}),
	}
	parent, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(sink.Logf),
		// cdproto may not know every event of a newer Chromium; such
		// "unknown event" complaints are not test failures.
		chromedp.WithErrorf(sink.Logf))
	t.Cleanup(func() {
		cancelBrowser() // closes the browser
		cancelAlloc()   // kills Chromium and waits for its main process
		cancelTimeout()
		if cmd != nil && cmd.Process != nil {
			// Its other processes outlive the main one for a moment and
			// may still write to the profile that TempDir removes next.
			if err := killGroup(cmd.Process.Pid, 20*time.Second); err != nil {
				t.Errorf("stopping Chromium: %v", err)
			}
		}
		if t.Failed() {
			outMu.Lock()
			t.Logf("chromium output:\n%s", out.String())
			outMu.Unlock()
		}
	})
	// Start the browser now so a broken install fails here, clearly. Keep
	// request bodies out of the network events: decoding megabytes of
	// postData per uploaded slice makes chromedp crawl under -race.
	if err := chromedp.Run(ctx, network.Enable().WithMaxPostDataSize(1)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	runCtx, stop := context.WithCancelCause(ctx)
	chromedp.ListenTarget(ctx, func(ev any) {
		e, ok := ev.(*network.EventLoadingFailed)
		if !ok {
			return
		}
		sink.Logf("browser: loading failed: type=%s error=%q canceled=%v blocked=%q", e.Type, e.ErrorText, e.Canceled, e.BlockedReason)
		if (e.Type == network.ResourceTypeDocument || e.Type == network.ResourceTypeFetch) && !e.Canceled {
			stop(fmt.Errorf("browser: %s load failed: %s", e.Type, e.ErrorText))
		}
	})
	t.Cleanup(func() { stop(nil) })
	return runCtx
}

// killGroup kills process group pgid and waits until each of its processes
// has exited (through pidfds, as they are not all our children).
func killGroup(pgid int, timeout time.Duration) error {
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
		if err == syscall.ESRCH {
			return nil // all gone already
		}
		return err
	}
	// A killed group cannot fork any more: these are all its processes.
	deadline := time.Now().Add(timeout)
	for _, pid := range groupMembers(pgid) {
		fd, err := unix.PidfdOpen(pid, 0)
		if err == unix.ESRCH {
			continue
		}
		if err != nil {
			return fmt.Errorf("pidfd_open %d: %w", pid, err)
		}
		for {
			ms := int(time.Until(deadline).Milliseconds())
			if ms <= 0 {
				unix.Close(fd)
				return fmt.Errorf("chromium process %d still running %v after SIGKILL", pid, timeout)
			}
			// A pidfd becomes readable when its process exits.
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
			if err == unix.EINTR || (err == nil && n == 0) {
				continue
			}
			unix.Close(fd)
			if err != nil {
				return fmt.Errorf("poll pidfd %d: %w", pid, err)
			}
			break
		}
	}
	return nil
}

// groupMembers lists the processes of group pgid from /proc.
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// run runs browser actions and reports the failure's cause (a failed load)
// rather than a bare "context canceled".
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != err {
			err = fmt.Errorf("%w (cause: %v)", err, cause)
		}
		t.Fatalf("%s: %v", what, err)
	}
}

// fileFacts is what the browser's File object says about the chosen file.
// Reading them also makes Blink snapshot the file's size and mtime (as an
// upload page that shows them would); from then on Chromium checks every
// upload and blob read of the file against that snapshot and fails with
// ERR_UPLOAD_FILE_CHANGED (a form) or NotReadableError (a blob read) if the
// file changed or ended early. Without the snapshot a form upload is not
// checked at all.
type fileFacts struct {
	Name         string  `json:"name"`
	Size         int64   `json:"size"`
	LastModified float64 `json:"lastModified"` // ms since the epoch
}

const factsJS = `(() => { const f = document.getElementById('f').files[0];
	return {name: f.name, size: f.size, lastModified: f.lastModified}; })()`

// checkFacts: the browser sees the origin's size and Last-Modified.
func (r *rig) checkFacts(t *testing.T, got fileFacts) {
	t.Helper()
	want := fileFacts{Name: fileName, Size: r.content.Size, LastModified: float64(testorigin.DefaultLastModified.UnixMilli())}
	if got != want {
		t.Errorf("browser's File: %+v, want %+v", got, want)
	}
}

// ---------------------------------------------------------------------------
// 1. A plain form upload.

const formPage = `<!doctype html><html><head><title>upload</title></head><body>
<form method=post enctype=multipart/form-data action=/upload>
<input type=file name=f id=f><button id=go>Upload</button>
</form></body></html>`

// received is what the upload handler saw.
type received struct {
	filename string
	n        int64
	sum      string
	err      error
	atFirst  store.Progress // the download's state when the first file bytes arrived
	atEnd    store.Progress // ... and when the last ones had
	// mismatchAt is the offset of the first byte that differs from the
	// expected content (or lies past its end); -1 if none did.
	mismatchAt int64
}

// TestBrowserFormUploadWhileStreaming: Chromium uploads the mounted file with
// an ordinary multipart form. The server must receive the origin's bytes
// exactly (count and SHA-256), the browser must not abort (no
// ERR_UPLOAD_FILE_CHANGED), and the first file bytes must reach the server
// while the download is still incomplete: the upload streams alongside the
// download instead of after it.
func TestBrowserFormUploadWhileStreaming(t *testing.T) {
	sink := newLogSink(t)
	// 24 MiB at 4 MiB/s per origin connection: with fsm's default four
	// readahead connections of 8 MiB chunks, the download takes about 2 s,
	// while the first 64 KiB the browser reads arrive in about 16 ms.
	r := newRig(t, sink, testorigin.Options{Content: testorigin.Content{Seed: 11, Size: 24 * mib}, BytesPerSecond: 4 * mib})

	site, results := uploadSite(t, r.content, r.file.Progress)

	ctx := newBrowser(t, sink)
	var facts fileFacts
	var pageN, pageSum string
	run(t, ctx, "upload",
		chromedp.Navigate(site.URL+"/"),
		chromedp.SetUploadFiles("#f", []string{r.path}, chromedp.ByID),
		chromedp.Evaluate(factsJS, &facts),
		chromedp.Click("#go", chromedp.ByID),
		chromedp.Text("#sum", &pageSum, chromedp.ByID),
		chromedp.Text("#n", &pageN, chromedp.ByID),
	)
	r.checkFacts(t, facts)

	var res received
	select {
	case res = <-results:
	case <-ctx.Done():
		t.Fatalf("no upload result: %v", context.Cause(ctx))
	}
	if res.err != nil {
		t.Fatalf("upload: %v", res.err)
	}
	want := r.sha256Of()
	if res.filename != fileName {
		t.Errorf("part filename %q, want %q", res.filename, fileName)
	}
	if res.n != r.content.Size || res.sum != want || res.mismatchAt >= 0 {
		t.Fatalf("server received %d bytes sha256 %s (first wrong byte at %d), want %d bytes sha256 %s", res.n, res.sum, res.mismatchAt, r.content.Size, want)
	}
	if pageN != fmt.Sprint(r.content.Size) || pageSum != want {
		t.Errorf("result page says %s bytes sha256 %s", pageN, pageSum)
	}

	// The ordering evidence: when the first file bytes reached the server,
	// the file had not been downloaded completely.
	t.Logf("download when the first upload bytes arrived: %d of %d bytes present (state %s); at the end: %d (state %s)",
		res.atFirst.Present, res.atFirst.Size, res.atFirst.State, res.atEnd.Present, res.atEnd.State)
	if res.atFirst.Present >= r.content.Size || res.atFirst.State == store.StateComplete {
		t.Errorf("upload started only after the download finished: %+v", res.atFirst)
	}
	if res.atEnd.Present != r.content.Size {
		t.Errorf("upload finished with %d of %d bytes downloaded", res.atEnd.Present, r.content.Size)
	}
	if p := r.file.Progress(); p.Err != nil || p.State == store.StateFailed {
		t.Errorf("download: %+v", p)
	}
}

// TestBrowserFormUploadOriginFaults: the same form upload while the origin
// misbehaves. Connections cut mid-body are resumed and the upload still
// carries the origin's exact bytes. An origin whose file changes during the
// download makes the upload fail in the browser: it never completes with
// bytes of two versions.
func TestBrowserFormUploadOriginFaults(t *testing.T) {
	content := testorigin.Content{Seed: 31, Size: 24 * mib}
	t.Run("cuts", func(t *testing.T) {
		sink := newLogSink(t)
		r := newRig(t, sink, testorigin.Options{Content: content, BytesPerSecond: 4 * mib, CutAfter: 3 * mib, CutCount: 4})
		site, results := uploadSite(t, r.content, r.file.Progress)
		ctx := newBrowser(t, sink)
		var facts fileFacts
		var pageSum string
		run(t, ctx, "upload",
			chromedp.Navigate(site.URL+"/"),
			chromedp.SetUploadFiles("#f", []string{r.path}, chromedp.ByID),
			chromedp.Evaluate(factsJS, &facts),
			chromedp.Click("#go", chromedp.ByID),
			chromedp.Text("#sum", &pageSum, chromedp.ByID),
		)
		r.checkFacts(t, facts)
		var res received
		select {
		case res = <-results: // sent before the page that run waited for
		case <-ctx.Done():
			t.Fatalf("no upload result: %v", context.Cause(ctx))
		}
		if want := r.sha256Of(); res.err != nil || res.n != content.Size || res.sum != want || res.mismatchAt >= 0 {
			t.Fatalf("server received %d bytes sha256 %s (err %v, first wrong byte at %d), want %d bytes sha256 %s", res.n, res.sum, res.err, res.mismatchAt, content.Size, want)
		}
		cuts := 0
		for _, q := range r.origin.Requests() {
			if q.Method == http.MethodGet && q.Status == http.StatusPartialContent && q.BytesSent == 3*mib {
				cuts++
			}
		}
		if cuts == 0 {
			t.Errorf("no origin response was cut; the test proves nothing")
		}
		t.Logf("%d origin responses cut mid-body; upload intact", cuts)
	})
	t.Run("changed", func(t *testing.T) {
		sink := newLogSink(t)
		// The file changes once 1 MiB has been served and the first response
		// to pass 3 MiB is cut, so its resumption meets the new version.
		r := newRig(t, sink, testorigin.Options{Content: content, BytesPerSecond: 4 * mib, ChangeAfter: 1 * mib, CutAfter: 3 * mib, CutCount: 1})
		site, results, begun := uploadSiteCounting(t, r.content, r.file.Progress)
		ctx := newBrowser(t, sink)
		var facts fileFacts
		var pageSum string
		err := chromedp.Run(ctx,
			chromedp.Navigate(site.URL+"/"),
			chromedp.SetUploadFiles("#f", []string{r.path}, chromedp.ByID),
			chromedp.Evaluate(factsJS, &facts),
			chromedp.Click("#go", chromedp.ByID),
			chromedp.Text("#sum", &pageSum, chromedp.ByID),
		)
		cause := context.Cause(ctx)
		if err == nil || cause == nil || !strings.Contains(cause.Error(), "Document load failed") {
			t.Fatalf("upload of a file that changed at the origin: err %v, cause %v, page sum %q; want the browser's upload to fail", err, cause, pageSum)
		}
		t.Logf("browser: %v", cause)
		if p := r.file.Progress(); p.State != store.StateFailed || p.Err == nil {
			t.Errorf("download after the origin's file changed: %+v, want failed", p)
		}
		// Whatever reached the server is an incomplete upload, never a
		// complete one made of two versions. A begun upload's handler ends
		// once Chromium drops the failed request's connection.
		if begun.Load() == 0 {
			return // Chromium failed the request before it reached the server
		}
		wait, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		select {
		case res := <-results:
			t.Logf("server saw %d bytes, then: %v", res.n, res.err)
			if res.err == nil || res.n >= content.Size {
				t.Errorf("server saw a complete upload (%d bytes, sha256 %s, err %v)", res.n, res.sum, res.err)
			}
			if res.mismatchAt >= 0 {
				t.Errorf("byte %d of the upload is not the staged version's: two versions mixed", res.mismatchAt)
			}
		case <-wait.Done():
			t.Errorf("the failed upload's request never ended at the server")
		}
	})
}

// uploadSite serves formPage at / and takes its POST at /upload; each
// upload's outcome is sent on the returned channel (the first one only).
// progress, when not nil, is sampled when the first and the last file bytes
// arrive.
func uploadSite(t *testing.T, want testorigin.Content, progress func() store.Progress) (*httptest.Server, <-chan received) {
	site, results, _ := uploadSiteCounting(t, want, progress)
	return site, results
}

// uploadSiteCounting is uploadSite that also counts the uploads begun.
func uploadSiteCounting(t *testing.T, want testorigin.Content, progress func() store.Progress) (*httptest.Server, <-chan received, *atomic.Int32) {
	results := make(chan received, 1)
	var begun atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, formPage)
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, req *http.Request) {
		begun.Add(1)
		res := receive(req, want, progress)
		select {
		case results <- res:
		default: // a second upload: the first one is what counts
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if res.err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "<!doctype html><title>failed</title><p id=err>%s</p>", html.EscapeString(res.err.Error()))
			return
		}
		fmt.Fprintf(w, "<!doctype html><title>done</title><p>received <span id=n>%d</span> bytes, sha256 <span id=sum>%s</span></p>", res.n, res.sum)
	})
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)
	return site, results, &begun
}

// receive streams the multipart part "f" of req through SHA-256 without
// holding it, compares it with want as it goes, and samples progress when
// its first and last bytes arrive.
func receive(req *http.Request, want testorigin.Content, progress func() store.Progress) (res received) {
	res.mismatchAt = -1
	if progress == nil {
		progress = func() store.Progress { return store.Progress{} }
	}
	mr, err := req.MultipartReader()
	if err != nil {
		res.err = err
		return res
	}
	found := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			res.err = fmt.Errorf("multipart: %w", err)
			return res
		}
		if part.FormName() != "f" {
			continue
		}
		found = true
		res.filename = part.FileName()
		h := sha256.New()
		buf := make([]byte, 64<<10)
		exp := make([]byte, len(buf))
		for {
			k, err := part.Read(buf)
			if k > 0 {
				if res.n == 0 {
					res.atFirst = progress()
				}
				h.Write(buf[:k])
				if res.mismatchAt < 0 {
					e, _ := want.ReadAt(exp[:k], res.n)
					if i := mismatch(buf[:k], exp[:e]); i >= 0 {
						res.mismatchAt = res.n + int64(i)
					}
				}
				res.n += int64(k)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				res.err = fmt.Errorf("part f after %d bytes: %w", res.n, err)
				return res
			}
		}
		res.sum = hex.EncodeToString(h.Sum(nil))
		res.atEnd = progress()
	}
	if !found {
		res.err = errors.New("no part named f")
	}
	return res
}

// TestHarnessSeesChangedFile checks the harness itself, without FUSE: when
// the chosen file's mtime moves between choosing and uploading, Chromium
// aborts with ERR_UPLOAD_FILE_CHANGED, and newBrowser's context reports that
// at once. So the FUSE tests' passing means no such abort happened.
func TestHarnessSeesChangedFile(t *testing.T) {
	sink := newLogSink(t)
	chromiumPath(t)
	path := filepath.Join(t.TempDir(), fileName)
	if err := os.WriteFile(path, testorigin.Content{Seed: 5, Size: 4 * mib}.Bytes(0, 4*mib), 0o644); err != nil {
		t.Fatal(err)
	}
	site, _ := uploadSite(t, testorigin.Content{}, nil)
	ctx := newBrowser(t, sink)
	// Reading the File's size and lastModified (as upload pages do to show
	// them, and as the FUSE tests do) makes Blink snapshot them; the
	// upload is checked against that snapshot.
	var facts fileFacts
	run(t, ctx, "choose",
		chromedp.Navigate(site.URL+"/"),
		chromedp.SetUploadFiles("#f", []string{path}, chromedp.ByID),
		chromedp.Evaluate(factsJS, &facts),
	)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	var sum string
	err := chromedp.Run(ctx,
		chromedp.Click("#go", chromedp.ByID),
		chromedp.Text("#sum", &sum, chromedp.ByID))
	cause := context.Cause(ctx)
	if err == nil || cause == nil || !strings.Contains(cause.Error(), "ERR_UPLOAD_FILE_CHANGED") {
		t.Fatalf("upload of a changed file: err %v, cause %v, page sum %q; want the browser's ERR_UPLOAD_FILE_CHANGED", err, cause, sum)
	}
	t.Logf("as expected: %v", cause)
}

// ---------------------------------------------------------------------------
// 2. A JavaScript chunked uploader.

// chunkPage's upload(plan) reads each [start, end) slice of the chosen file
// with Blob.arrayBuffer and POSTs it with its offset, one after another;
// then uploadAll(size, step, parallel) covers the whole file backwards in
// step-sized slices, parallel at a time. Both resolve to the number of bytes
// sent and reject on any failure (a changed file, a short read, a non-200).
const chunkPage = `<!doctype html><html><head><title>chunks</title></head><body>
<input type=file id=f>
<script>
async function send(start, end) {
	const blob = document.getElementById('f').files[0].slice(start, end);
	const buf = await blob.arrayBuffer();
	if (buf.byteLength !== end - start) throw new Error('slice ' + start + '-' + end + ' read ' + buf.byteLength + ' bytes');
	const r = await fetch('/chunk?off=' + start, {method: 'POST', body: buf});
	const text = await r.text();
	if (!r.ok) throw new Error('slice ' + start + '-' + end + ': ' + r.status + ' ' + text);
	return buf.byteLength;
}
async function upload(plan) {
	let n = 0;
	for (const [a, b] of plan) n += await send(a, b);
	return n;
}
async function uploadAll(size, step, parallel) {
	const starts = [];
	for (let a = 0; a < size; a += step) starts.push(a);
	starts.reverse();
	let n = 0;
	for (let i = 0; i < starts.length; i += parallel) {
		const batch = starts.slice(i, i + parallel).map(a => send(a, Math.min(a + step, size)));
		for (const k of await Promise.all(batch)) n += k;
	}
	return n;
}
</script></body></html>`

type chunk struct {
	off, n  int64
	present int64 // bytes of the file downloaded when the chunk arrived
}

// TestBrowserChunkedSliceUpload: a JavaScript uploader in Chromium reads
// slices of the mounted file at arbitrary offsets (the end first, unaligned,
// across fsm's 8 MiB chunk boundaries, a single last byte), then the whole
// file backwards with several slices in flight, and POSTs each with its
// offset. The server checks every slice against the origin's content and
// that together they cover the file; the first slice, near the end, must
// arrive while the download is incomplete.
func TestBrowserChunkedSliceUpload(t *testing.T) {
	sink := newLogSink(t)
	const size = 24 * mib
	r := newRig(t, sink, testorigin.Options{Content: testorigin.Content{Seed: 23, Size: size}, BytesPerSecond: 4 * mib})

	t0 := time.Now()
	var mu sync.Mutex
	var chunks []chunk
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, chunkPage)
	})
	mux.HandleFunc("POST /chunk", func(w http.ResponseWriter, req *http.Request) {
		present := r.file.Progress().Present
		var off int64
		if _, err := fmt.Sscan(req.URL.Query().Get("off"), &off); err != nil || off < 0 || off > size {
			http.Error(w, "bad off", http.StatusBadRequest)
			return
		}
		n, err := compare(req.Body, r.content, off)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		mu.Lock()
		chunks = append(chunks, chunk{off: off, n: n, present: present})
		mu.Unlock()
		sink.Logf("%v: slice [%d,%d) matches; %d bytes were downloaded when it arrived", time.Since(t0).Round(time.Millisecond), off, off+n, present)
		io.WriteString(w, "ok")
	})
	site := httptest.NewServer(mux)
	t.Cleanup(site.Close)

	plan := [][2]int64{
		{size - 100_000, size},                       // near the end, first
		{size/2 + 12_345, size/2 + 12_345 + 300_000}, // the middle, unaligned
		{7_777_777, 7_777_777 + mib},                 // across the 8 MiB chunk boundary
		{size - 1, size},                             // the last byte alone
		{4095, 4097},                                 // two bytes across a page boundary
		{0, 65536},                                   // the start
		{16*mib - 3, 16*mib + 5},                     // a few bytes across another chunk boundary
	}
	var planBytes int64
	for _, p := range plan {
		planBytes += p[1] - p[0]
	}
	planJS := "["
	for i, p := range plan {
		if i > 0 {
			planJS += ","
		}
		planJS += fmt.Sprintf("[%d,%d]", p[0], p[1])
	}
	planJS += "]"

	ctx := newBrowser(t, sink)
	var facts fileFacts
	var sentPlan, sentAll int64
	run(t, ctx, "chunked upload",
		chromedp.Navigate(site.URL+"/"),
		chromedp.SetUploadFiles("#f", []string{r.path}, chromedp.ByID),
		chromedp.Evaluate(factsJS, &facts),
		chromedp.Evaluate("upload("+planJS+")", &sentPlan, awaitPromise),
		chromedp.Evaluate(fmt.Sprintf("uploadAll(%d, %d, 3)", size, 3*mib+12_345), &sentAll, awaitPromise),
	)
	r.checkFacts(t, facts)
	if sentPlan != planBytes || sentAll != size {
		t.Errorf("browser sent %d + %d bytes, want %d + %d", sentPlan, sentAll, planBytes, size)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(chunks) == 0 {
		t.Fatal("no chunks arrived")
	}
	// Every chunk already matched the origin's bytes at its offset; check
	// the plan arrived in order and the rest covers the whole file.
	for i, p := range plan {
		if i >= len(chunks) || chunks[i].off != p[0] || chunks[i].n != p[1]-p[0] {
			t.Fatalf("chunk %d: got %+v, want [%d,%d)", i, chunks[min(i, len(chunks)-1)], p[0], p[1])
		}
	}
	var covered int64
	next := int64(size)
	for _, c := range chunks[len(plan):] { // backwards, batches in any order
		covered += c.n
		next = min(next, c.off)
	}
	if covered != size || next != 0 {
		t.Errorf("whole-file pass covered %d bytes down to %d, want %d down to 0", covered, next, int64(size))
	}
	t.Logf("download when the first slice (offset %d) arrived: %d of %d bytes present", chunks[0].off, chunks[0].present, int64(size))
	if chunks[0].present >= size {
		t.Errorf("the first slice arrived only after the download finished (%d bytes present)", chunks[0].present)
	}
	if p := r.file.Progress(); p.Err != nil || p.State == store.StateFailed {
		t.Errorf("download: %+v", p)
	}
}

func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams {
	return p.WithAwaitPromise(true)
}

// compare reads body and checks it equals content at off; it returns the
// number of bytes read.
func compare(body io.Reader, content testorigin.Content, off int64) (int64, error) {
	buf := make([]byte, 64<<10)
	want := make([]byte, len(buf))
	var n int64
	for {
		k, err := body.Read(buf)
		if k > 0 {
			if off+n+int64(k) > content.Size {
				return n, fmt.Errorf("slice at %d runs past the end of the file", off)
			}
			content.ReadAt(want[:k], off+n)
			if i := mismatch(buf[:k], want[:k]); i >= 0 {
				return n, fmt.Errorf("byte %d (file offset %d) is %#02x, want %#02x", n+int64(i), off+n+int64(i), buf[i], want[i])
			}
			n += int64(k)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// mismatch returns the index of the first byte of a that differs from b
// (or that b is too short to have), or -1.
func mismatch(a, b []byte) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}
