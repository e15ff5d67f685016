//go:build fuse && linux

package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"fsm/fuse"
	"fsm/internal/testorigin"
)

// pkgDir is this package's directory, read before any test runs: libfuse
// changes the process's working directory to / when the in-process FUSE
// tests mount.
var pkgDir, pkgDirErr = os.Getwd()

// fsmServer is a running `fsm serve` built from this tree.
type fsmServer struct {
	addr string // host:port it listens on
	done chan error
}

// startFSM builds the real binary with FUSE and runs `fsm serve` on a free
// loopback port, mounted at mountDir ("": no mount), with its cache and
// token file in temp dirs, with extra (flags, sources) after its own flags.
// It is stopped with SIGTERM (which unmounts) in t.Cleanup.
func startFSM(t *testing.T, sink *logSink, mountDir string, extra ...string) *fsmServer {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fsm")
	if pkgDirErr != nil {
		t.Fatalf("working directory at start: %v", pkgDirErr)
	}
	build := exec.Command("go", "build", "-tags", "fuse,fuse3", "-o", bin, "../cmd/fsm")
	build.Dir = pkgDir
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build fsm: %v\n%s", err, out)
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--cache-dir", filepath.Join(dir, "cache")}
	if mountDir != "" {
		args = append(args, "--fuse", mountDir)
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	// The token file goes to the user's cache dir: keep it in ours.
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "xdg"), "FSM_TOKEN=", "FSM_ADDR=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &fsmServer{done: make(chan error, 1)}
	addrCh := make(chan string, 1)
	serving := regexp.MustCompile(`webdav=http://(\S+?)/`)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			sink.Logf("fsm: %s", line)
			if m := serving.FindStringSubmatch(line); m != nil {
				select {
				case addrCh <- m[1]:
				default:
				}
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("fsm serve exited: %v", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("fsm serve did not exit after SIGTERM")
		}
	})
	select {
	case s.addr = <-addrCh:
	case err := <-s.done:
		t.Fatalf("fsm serve exited before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("fsm serve did not say where it serves")
	}
	return s
}

func (s *fsmServer) url(path string) string { return "http://" + s.addr + path }

// artifactDir is where screenshots go: $FSM_ARTIFACTS when set (CI keeps
// it), else the test's temp dir.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("FSM_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("FSM_ARTIFACTS: %v", err)
		}
		return d
	}
	return t.TempDir()
}

// screenshot saves the whole page at the given viewport width.
func screenshot(t *testing.T, ctx context.Context, dir, name string, width int64) {
	t.Helper()
	var png []byte
	run(t, ctx, "screenshot "+name,
		emulation.SetScrollbarsHidden(true),
		emulation.SetDeviceMetricsOverride(width, 900, 1, false),
		chromedp.Sleep(300*time.Millisecond), // let the bar's width transition settle
		chromedp.FullScreenshot(&png, 100),
	)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// pageProblems collects what the browser reports as broken on the page:
// uncaught exceptions, console errors (a CSP violation is one) and dialogs
// (an injected alert()).
type pageProblems struct {
	ch chan string
}

func watchPage(ctx context.Context) *pageProblems {
	p := &pageProblems{ch: make(chan string, 64)}
	report := func(s string) {
		select {
		case p.ch <- s:
		default:
		}
	}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			report("exception: " + e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				report("console.error: " + strings.Join(args, " "))
			}
		case *cdplog.EventEntryAdded:
			// Network entries are answers with an error status, which the
			// test provokes (a clash); CSP violations come through the
			// listener cspReporter installs.
			if e.Entry.Level == cdplog.LevelError && e.Entry.Source != cdplog.SourceNetwork {
				report(fmt.Sprintf("log %s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		case *page.EventJavascriptDialogOpening:
			report("dialog: " + e.Message)
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(false))
		}
	})
	return p
}

// cspReporter turns each CSP violation in the page into a console error.
const cspReporter = `document.addEventListener('securitypolicyviolation',
	(e) => console.error('CSP violation:', e.violatedDirective, e.blockedURI, e.sourceFile + ':' + e.lineNumber));`

func (p *pageProblems) check(t *testing.T) {
	t.Helper()
	for {
		select {
		case s := <-p.ch:
			t.Errorf("page problem: %s", s)
		default:
			return
		}
	}
}

// rowJS evaluates to the row of the file named by the JSON string name.
func rowJS(name string) string {
	b, _ := json.Marshal(name)
	return `[...document.querySelectorAll('#files > li.file')].find(li => li.dataset.name === ` + string(b) + `)`
}

// rowView is what a file's row shows.
type rowView struct {
	Badge    string   `json:"badge"`
	Pct      string   `json:"pct"` // the bar's aria-valuenow
	Width    string   `json:"width"`
	Amount   string   `json:"amount"`
	Rate     string   `json:"rate"`
	URL      string   `json:"url"`
	Error    string   `json:"error"`
	Handles  string   `json:"handles"`
	Verified bool     `json:"verified"`
	Paths    []string `json:"paths"`
	NoPath   bool     `json:"noPath"` // the row says it has no local path and how to get one
}

func rowViewJS(name string) string {
	// A row appears while its probe runs; what the tests check is the
	// row of the staged file, so wait past "probing".
	return `(() => { const r = ` + rowJS(name) + `; if (!r) return null;
		const q = (s) => r.querySelector(s);
		if (q('.badge').textContent.trim().toLowerCase() === 'probing') return null;
		return {badge: q('.badge').textContent, pct: q('.bar').getAttribute('aria-valuenow') || '',
			width: q('.bar-fill').style.width, amount: q('.amount').textContent, rate: q('.rate').textContent,
			url: q('.file-url').textContent, error: q('.file-error').hidden ? '' : q('.file-error').textContent,
			handles: q('.handles').textContent, verified: q('.unverified').hidden,
			paths: [...r.querySelectorAll('.paths .value')].map(e => e.textContent),
			noPath: !q('.no-path').hidden}; })()`
}

// apiStage stages url as name through the API, as `fsm stage` does, and
// returns the status and the body.
func apiStage(t *testing.T, s *fsmServer, token, url, name string) (int, string) {
	t.Helper()
	code, body := apiPost(t, s, token, map[string]string{"url": url, "name": name})
	return code, string(body)
}

// apiError does what the page's form does, from Go, and returns the
// server's error line.
func apiError(t *testing.T, s *fsmServer, token string, body any) (int, string) {
	t.Helper()
	code, b := apiPost(t, s, token, body)
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("POST files answer %d is not {\"error\"}: %v", code, err)
	}
	return code, e.Error
}

// apiPost POSTs body as JSON to the files collection with the token and
// returns the status and the answer's body.
func apiPost(t *testing.T, s *fsmServer, token string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.url("/.fsm/api/v1/files"), strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST files: reading the answer: %v", err)
	}
	return resp.StatusCode, answer
}

// TestBrowserControlPage drives the control page of a real `fsm serve` in
// headless Chromium: stage a throttled origin's file through the form, see
// a clash refused in the server's words, see a file staged elsewhere appear
// with its hostile name shown as text, watch the row's bar climb to 100% and
// the state turn complete while a WebDAV reader pulls the file, copy the
// file's FUSE path, then unstage both with their buttons (at 420 px wide)
// and see them gone from the page and from WebDAV. Screenshots, wide and
// 420 px, are kept as artifacts.
func TestBrowserControlPage(t *testing.T) {
	sink := newLogSink(t)
	mountDir := t.TempDir()
	need(t, "FUSE", fuse.Check(mountDir))
	chromiumPath(t)
	const name = "films/big one.bin"
	// A name an origin could give: markup, an entity, quotes.
	const hostile = `<img src=x onerror=alert(1)> &amp; "q".bin`
	// 24 MiB at 1 MiB/s per origin connection: with fsm's four readahead
	// connections the download takes about 6 s, two dozen of the events
	// stream's 250 ms updates, so the bar is seen on its way up.
	content := testorigin.Content{Seed: 77, Size: 24 * mib}
	origin := testorigin.New(t, testorigin.Options{Content: content, Name: "/media/big.bin", BytesPerSecond: 1 * mib})
	srv := startFSM(t, sink, mountDir)
	art := artifactDir(t)

	ctx := newBrowser(t, sink)
	problems := watchPage(ctx)
	run(t, ctx, "open the page",
		cdplog.Enable(),
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(cspReporter).Do(ctx)
			return err
		}),
		browser.GrantPermissions([]browser.PermissionType{browser.PermissionTypeClipboardReadWrite, browser.PermissionTypeClipboardSanitizedWrite}).
			WithOrigin(srv.url("")),
		emulation.SetDeviceMetricsOverride(1200, 900, 1, false),
		chromedp.Navigate(srv.url("/.fsm/")),
		chromedp.Poll(`document.getElementById('live').dataset.state === 'live'`, nil),
		chromedp.Poll(`!document.getElementById('empty').hidden && document.getElementById('webdav-url').textContent.startsWith('http')`, nil),
	)
	var webdavURL, fuseDir, token string
	run(t, ctx, "read the page",
		chromedp.Text("#webdav-url", &webdavURL, chromedp.ByID),
		chromedp.Evaluate(`document.getElementById('fuse-row').hidden ? '' : document.getElementById('fuse-dir').textContent`, &fuseDir),
		chromedp.Evaluate(`document.querySelector('meta[name="fsm-token"]').content`, &token),
	)
	if webdavURL != srv.url("/") || fuseDir != mountDir {
		t.Errorf("page shows WebDAV URL %q, FUSE mount %q; want %q, %q", webdavURL, fuseDir, srv.url("/"), mountDir)
	}

	// Stage through the form.
	var view rowView
	run(t, ctx, "stage through the form",
		chromedp.SendKeys("#stage-url", origin.URL(), chromedp.ByID),
		chromedp.SendKeys("#stage-name", name, chromedp.ByID),
		chromedp.Click("#stage-go", chromedp.ByID),
		chromedp.Poll(rowViewJS(name), &view),
	)
	t.Logf("staged: %+v", view)
	wantPath := filepath.Join(mountDir, filepath.FromSlash(name))
	if view.URL != origin.URL() || view.Amount != "0 B of 25 MB" || !view.Verified || len(view.Paths) != 1 || view.Paths[0] != wantPath || view.NoPath {
		t.Errorf("new row shows %+v; want url %s, 0 B of 25 MB, verified, path %s", view, origin.URL(), wantPath)
	}
	var formURL string
	var errorHidden bool
	run(t, ctx, "form after staging",
		chromedp.Value("#stage-url", &formURL, chromedp.ByID),
		chromedp.Evaluate(`document.getElementById('stage-error').hidden`, &errorHidden),
	)
	if formURL != "" || !errorHidden {
		t.Errorf("after staging: URL field %q, error shown %v; want a cleared form", formURL, !errorHidden)
	}

	// The same name again: the server refuses (409), and the page says why
	// in the server's words.
	wantCode, wantMsg := apiError(t, srv, token, map[string]string{"url": origin.URL(), "name": name})
	if wantCode != http.StatusConflict || wantMsg == "" {
		t.Fatalf("staging a taken name: %d %q, want 409 with a message", wantCode, wantMsg)
	}
	var formError string
	run(t, ctx, "stage a clash",
		chromedp.SendKeys("#stage-url", origin.URL(), chromedp.ByID),
		chromedp.SendKeys("#stage-name", name, chromedp.ByID),
		chromedp.Click("#stage-go", chromedp.ByID),
		chromedp.Poll(`!document.getElementById('stage-error').hidden`, nil),
		chromedp.Text("#stage-error", &formError, chromedp.ByID),
	)
	if formError != wantMsg {
		t.Errorf("page shows %q for the clash, want the server's %q", formError, wantMsg)
	}

	// A file staged elsewhere (as `fsm stage` would) appears through the
	// events stream, its name shown as text, never as markup.
	// Its origin sends no validators, so the row says it is not verified.
	bare := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 78, Size: 3000}, NoETag: true, NoLastModified: true})
	if code, msg := apiStage(t, srv, token, bare.URL(), hostile); code != http.StatusCreated {
		t.Fatalf("staging %q through the API: %d %s", hostile, code, msg)
	}
	var other rowView
	var shownName string
	var imgs int
	run(t, ctx, "a file staged elsewhere",
		chromedp.Poll(rowViewJS(hostile), &other),
		chromedp.Evaluate(`(`+rowJS(hostile)+`).querySelector('.file-name').textContent`, &shownName),
		chromedp.Evaluate(`document.querySelectorAll('#files img').length`, &imgs),
	)
	if shownName != hostile || imgs != 0 {
		t.Errorf("hostile name shown as %q with %d <img> in the list; want the name as text", shownName, imgs)
	}
	if other.Verified || other.Amount != "0 B of 3.0 kB" {
		t.Errorf("file from an origin without validators: %+v; want not verified, 0 B of 3.0 kB", other)
	}

	// Record every value the bar shows from now on.
	run(t, ctx, "watch the bar", chromedp.Evaluate(`(() => {
		const bar = `+rowJS(name)+`.querySelector('.bar');
		window.seenPct = [bar.getAttribute('aria-valuenow')];
		new MutationObserver(() => window.seenPct.push(bar.getAttribute('aria-valuenow')))
			.observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});
	})()`, nil))

	// A WebDAV reader pulls the file.
	type result struct {
		n   int64
		sum string
		err error
	}
	read := make(chan result, 1)
	fileURL := srv.url("/" + (&url.URL{Path: name}).EscapedPath())
	go func() {
		resp, err := http.Get(fileURL)
		if err != nil {
			read <- result{err: err}
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			read <- result{err: fmt.Errorf("GET %s: %s", fileURL, resp.Status)}
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		read <- result{n, hex.EncodeToString(h.Sum(nil)), err}
	}()

	// On its way: a value strictly between 0 and 100, caught on the DOM
	// mutation that shows it. Then 100% and complete.
	var mid rowView
	run(t, ctx, "progress on its way",
		chromedp.Poll(`(() => { const v = `+rowViewJS(name)+`; return v && +v.pct > 0 && +v.pct < 100 && v.badge === 'downloading' ? v : null; })()`,
			&mid, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(60*time.Second)),
	)
	t.Logf("mid-way: %+v", mid)
	if mid.Handles != "1 open handle" {
		t.Errorf("while the reader reads, the row shows handles %q, want 1 open handle", mid.Handles)
	}
	screenshot(t, ctx, art, "page-downloading-wide.png", 1200)
	var done rowView
	run(t, ctx, "progress complete",
		chromedp.Poll(`(() => { const v = `+rowViewJS(name)+`; return v && v.pct === '100' && v.badge === 'complete' ? v : null; })()`,
			&done, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(60*time.Second)),
	)
	t.Logf("complete: %+v", done)
	if done.Width != "100%" || done.Amount != "25 MB" {
		t.Errorf("complete row: %+v; want a full bar and 25 MB", done)
	}
	var seen []string
	run(t, ctx, "bar history", chromedp.Evaluate(`window.seenPct`, &seen))
	t.Logf("bar values shown: %v", seen)
	last := -1
	for _, s := range seen {
		var v int
		if _, err := fmt.Sscan(s, &v); err != nil || v < last {
			t.Errorf("bar went %v: not a rising sequence of percentages", seen)
			break
		}
		last = v
	}

	select {
	case res := <-read:
		want := sha256.Sum256(content.Bytes(0, content.Size))
		if res.err != nil || res.n != content.Size || res.sum != hex.EncodeToString(want[:]) {
			t.Fatalf("WebDAV reader: %d bytes sha256 %s, err %v; want %d bytes sha256 %x", res.n, res.sum, res.err, content.Size, want)
		}
	case <-ctx.Done():
		t.Fatalf("WebDAV reader did not finish: %v", context.Cause(ctx))
	}

	// The path's copy button puts the path on the clipboard.
	var copied, label string
	run(t, ctx, "copy the path",
		chromedp.Click(`#files li.file[data-state="complete"] .paths button.copy`, chromedp.ByQuery),
		chromedp.Poll(`(`+rowJS(name)+`).querySelector('.paths button.copy').textContent !== 'Copy'`, nil),
		chromedp.Evaluate(`(`+rowJS(name)+`).querySelector('.paths button.copy').textContent`, &label),
		chromedp.Evaluate(`navigator.clipboard.readText()`, &copied, awaitPromise),
	)
	if label != "Copied" || copied != wantPath {
		t.Errorf("copy button says %q, clipboard holds %q; want Copied and %q", label, copied, wantPath)
	}

	screenshot(t, ctx, art, "page-complete-wide.png", 1200)
	screenshot(t, ctx, art, "page-complete-420.png", 420)
	run(t, ctx, "dark", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}))
	screenshot(t, ctx, art, "page-complete-420-dark.png", 420)

	// Unstage with the row's button, on the narrow page (a real click at
	// the button's place: it must be visible and not covered).
	run(t, ctx, "unstage",
		chromedp.Click(`#files li.file[data-state="complete"] button.unstage`, chromedp.ByQuery),
		chromedp.Poll(`!(`+rowJS(name)+`)`, nil),
	)
	resp, err := http.Get(fileURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s after unstaging: %s, want 404", fileURL, resp.Status)
	}
	run(t, ctx, "unstage the other",
		chromedp.Evaluate(`(`+rowJS(hostile)+`).querySelector('button.unstage').click()`, nil),
		chromedp.Poll(`!(`+rowJS(hostile)+`) && !document.getElementById('empty').hidden`, nil),
	)
	resp, err = http.Get(srv.url("/.fsm/api/v1/files"))
	if err != nil {
		t.Fatal(err)
	}
	var files []json.RawMessage
	err = json.NewDecoder(resp.Body).Decode(&files)
	resp.Body.Close()
	if err != nil || len(files) != 0 {
		t.Errorf("GET files after unstaging: %d files, err %v; want none", len(files), err)
	}
	problems.check(t)
}

// Without --fuse or --mount a file has no local path, and its row says so
// and how to get one.
func TestBrowserNoLocalPath(t *testing.T) {
	sink := newLogSink(t)
	chromiumPath(t)
	origin := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 78, Size: 1000}, Name: "/small.bin"})
	srv := startFSM(t, sink, "")
	ctx := newBrowser(t, sink)
	var token string
	run(t, ctx, "open the page",
		chromedp.Navigate(srv.url("/.fsm/")),
		chromedp.Poll(`document.getElementById('live').dataset.state === 'live'`, nil),
		chromedp.Evaluate(`document.querySelector('meta[name="fsm-token"]').content`, &token),
	)
	if code, body := apiStage(t, srv, token, origin.URL(), "small.bin"); code != 201 {
		t.Fatalf("stage: %d %s", code, body)
	}
	var view rowView
	var hint string
	run(t, ctx, "read the row",
		chromedp.Poll(rowViewJS("small.bin"), &view),
		chromedp.Evaluate(`(`+rowJS("small.bin")+`).querySelector('.no-path').textContent`, &hint),
	)
	if len(view.Paths) != 0 || !view.NoPath || !strings.Contains(hint, "--fuse DIR") || !strings.Contains(hint, "--mount") {
		t.Errorf("a row without a local path: %+v, hint %q", view, hint)
	}
}
