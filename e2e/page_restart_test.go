//go:build fuse && linux

package e2e

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fsm/internal/testorigin"
)

// restartable runs `fsm serve` (the default build) on one fixed address and
// token folder, so it can be stopped and started again like a restarted
// service.
type restartable struct {
	t        *testing.T
	bin, dir string
	addr     string
	cmd      *exec.Cmd
	done     chan error
}

func newRestartable(t *testing.T, sink *logSink) *restartable {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fsm")
	if pkgDirErr != nil {
		t.Fatalf("working directory at start: %v", pkgDirErr)
	}
	build := exec.Command("go", "build", "-o", bin, "../cmd/fsm")
	build.Dir = pkgDir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build fsm: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &restartable{t: t, bin: bin, dir: dir, addr: ln.Addr().String()}
	ln.Close()
	r.start(sink)
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *restartable) start(sink *logSink) {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "serve", "--addr", r.addr, "--cache-dir", filepath.Join(r.dir, "cache"))
	r.cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(r.dir, "xdg"), "FSM_TOKEN=", "FSM_ADDR=")
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan error, 1)
	serving := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			sink.Logf("fsm: %s", sc.Text())
			if strings.Contains(sc.Text(), "fsm is serving") {
				serving <- struct{}{}
			}
		}
		r.done <- r.cmd.Wait()
	}()
	select {
	case <-serving:
	case err := <-r.done:
		r.t.Fatalf("fsm serve exited before serving: %v", err)
	case <-time.After(30 * time.Second):
		r.t.Fatal("fsm serve did not start serving")
	}
}

func (r *restartable) stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("fsm serve exited: %v", err)
		}
	case <-time.After(30 * time.Second):
		r.cmd.Process.Kill()
		r.t.Errorf("fsm serve did not exit after SIGTERM")
	}
	r.cmd = nil
}

// The page outlives a restart of its server: it shows the outage, comes
// back live on its own, and its next Stage works with the new server's
// token, without a reload.
func TestBrowserPageAcrossRestart(t *testing.T) {
	sink := newLogSink(t)
	chromiumPath(t)
	origin := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 81, Size: 5000}, Name: "/after.bin"})
	srv := newRestartable(t, sink)
	url := "http://" + srv.addr + "/.fsm/"

	ctx := newBrowser(t, sink)
	problems := watchPage(ctx)
	var before string
	run(t, ctx, "open the page",
		chromedp.Navigate(url),
		chromedp.Poll(`document.getElementById('live').dataset.state === 'live'`, nil),
		chromedp.Evaluate(`document.querySelector('meta[name="fsm-token"]').content`, &before),
	)
	srv.stop()
	run(t, ctx, "see the outage",
		chromedp.Poll(`document.getElementById('live').dataset.state !== 'live'`, nil),
	)
	srv.start(sink)
	var shown, loaded string
	run(t, ctx, "live again, then stage",
		chromedp.Poll(`document.getElementById('live').dataset.state === 'live'`, nil, chromedp.WithPollingTimeout(60*time.Second)),
		chromedp.SendKeys("#stage-url", origin.URL(), chromedp.ByID),
		chromedp.Click("#stage-go", chromedp.ByID),
		chromedp.Poll(`(`+rowJS("after.bin")+`) !== undefined || !document.getElementById("stage-error").hidden`, nil),
		chromedp.Evaluate(`document.getElementById('stage-error').hidden ? '' : document.getElementById('stage-error').textContent`, &shown),
		chromedp.Evaluate(`document.querySelector('meta[name="fsm-token"]').content`, &loaded),
	)
	if shown != "" {
		t.Fatalf("Stage after the restart failed on the page: %q", shown)
	}
	if loaded != before {
		t.Errorf("the page reloaded itself (token meta %q, was %q); it should only have fetched the token", loaded, before)
	}
	problems.check(t)
}

// The form's "Once read" choice reaches the server as the file's
// after_read, and the row says what will happen.
func TestBrowserStageAfterRead(t *testing.T) {
	sink := newLogSink(t)
	chromiumPath(t)
	origin := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 82, Size: 5000}, Name: "/once.bin"})
	srv := newRestartable(t, sink)
	ctx := newBrowser(t, sink)
	problems := watchPage(ctx)
	var shown string
	run(t, ctx, "stage with after-read unstage",
		chromedp.Navigate("http://"+srv.addr+"/.fsm/"),
		chromedp.Poll(`document.getElementById('live').dataset.state === 'live'`, nil),
		chromedp.SendKeys("#stage-url", origin.URL(), chromedp.ByID),
		chromedp.SetValue("#stage-after-read", "unstage", chromedp.ByID),
		chromedp.Click("#stage-go", chromedp.ByID),
		chromedp.Poll(`(`+rowJS("once.bin")+`) !== undefined`, nil),
		chromedp.Evaluate(`(`+rowJS("once.bin")+`).querySelector('.after-read').textContent`, &shown),
	)
	if shown != "unstaged once read" {
		t.Errorf("row says %q, want \"unstaged once read\"", shown)
	}
	problems.check(t)
}
