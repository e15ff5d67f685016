//go:build fuse && linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"fsm/fuse"
	"fsm/internal/testorigin"
)

// openPage opens srv's control page in ctx, with CSP violations reported,
// waits until it is live and returns the token from its <meta>.
func openPage(t *testing.T, ctx context.Context, srv *fsmServer) string {
	t.Helper()
	var token string
	run(t, ctx, "open the page",
		cdplog.Enable(),
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(cspReporter).Do(ctx)
			return err
		}),
		emulation.SetDeviceMetricsOverride(1200, 900, 1, false),
		chromedp.Navigate(srv.url("/.fsm/")),
		chromedp.Poll(`document.getElementById('live').dataset.state === 'live'`, nil),
		chromedp.Evaluate(`document.querySelector('meta[name="fsm-token"]').content`, &token),
	)
	return token
}

// listedNames returns the names GET files lists, in its order.
func listedNames(t *testing.T, srv *fsmServer) []string {
	t.Helper()
	resp, err := http.Get(srv.url("/.fsm/api/v1/files"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var files []struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&files); err != nil {
		t.Fatalf("GET files: %v", err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	return names
}

// readAll reads name through WebDAV to its end.
func readAll(srv *fsmServer, name string) error {
	u := srv.url("/" + (&url.URL{Path: name}).EscapedPath())
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// shownNamesJS evaluates to the names of the rows the page shows, in order.
const shownNamesJS = `[...document.querySelectorAll('#files > li.file')].filter(li => !li.hidden).map(li => li.dataset.name)`

// Stage through the form with request headers: a malformed line is refused
// in the page before anything is sent; then the origin receives the
// headers, the form says "Staged NAME (63 MB)", and the new row, below the
// fold among a dozen others, is scrolled into view and highlighted.
func TestBrowserPageStageWithHeaders(t *testing.T) {
	sink := newLogSink(t)
	chromiumPath(t)
	origin := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 91, Size: 63_000_000}, Name: "/secret.bin"})
	filler := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 92, Size: 1000}, Name: "/filler.bin"})
	srv := startFSM(t, sink, "")
	ctx := newBrowser(t, sink)
	problems := watchPage(ctx)
	token := openPage(t, ctx, srv)
	for i := range 12 {
		if code, body := apiStage(t, srv, token, filler.URL(), fmt.Sprintf("a%02d.bin", i)); code != http.StatusCreated {
			t.Fatalf("stage filler %d: %d %s", i, code, body)
		}
	}
	run(t, ctx, "fillers listed", chromedp.Poll(`document.querySelectorAll('#files > li.file').length === 12`, nil))

	var formError string
	run(t, ctx, "a malformed header line",
		chromedp.SendKeys("#stage-url", origin.URL(), chromedp.ByID),
		chromedp.SendKeys("#stage-name", "zz/secret.bin", chromedp.ByID),
		chromedp.SetValue("#stage-headers", "Authorization: Bearer s3cret\nno colon here", chromedp.ByID),
		chromedp.Click("#stage-go", chromedp.ByID),
		chromedp.Poll(`!document.getElementById('stage-error').hidden`, nil),
		chromedp.Text("#stage-error", &formError, chromedp.ByID),
	)
	if !strings.Contains(formError, "line 2") || !strings.Contains(formError, "Name: value") {
		t.Errorf("malformed header line: page says %q; want it to name line 2 and the Name: value form", formError)
	}
	if n := len(origin.Requests()); n != 0 {
		t.Errorf("after a malformed header line the origin saw %d requests, want none", n)
	}

	var done string
	run(t, ctx, "stage with headers",
		chromedp.SetValue("#stage-headers", "Authorization: Bearer s3cret\n\nCookie: session=abc", chromedp.ByID),
		chromedp.Click("#stage-go", chromedp.ByID),
		chromedp.Poll(`!document.getElementById('stage-done').hidden`, nil),
		chromedp.Text("#stage-done", &done, chromedp.ByID),
	)
	if want := "Staged zz/secret.bin (63 MB)"; done != want {
		t.Errorf("after staging the form says %q, want %q", done, want)
	}
	reqs := origin.Requests()
	if len(reqs) == 0 {
		t.Fatal("the origin saw no request")
	}
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("Cookie") != "session=abc" {
			t.Errorf("origin got %s %s with Authorization %q, Cookie %q; want the form's headers",
				r.Method, r.Path, r.Header.Get("Authorization"), r.Header.Get("Cookie"))
		}
	}

	// The row: highlighted and scrolled into the viewport.
	var seen struct {
		Highlighted bool `json:"highlighted"`
		Top         float64
		Bottom      float64
		Height      float64
	}
	run(t, ctx, "the new row in view",
		chromedp.Poll(`(() => { const r = `+rowJS("zz/secret.bin")+`; if (!r) return null;
			const b = r.getBoundingClientRect();
			return b.top >= 0 && b.bottom <= window.innerHeight
				? {highlighted: r.classList.contains('new'), top: b.top, bottom: b.bottom, height: window.innerHeight} : null; })()`,
			&seen, chromedp.WithPollingTimeout(3*time.Second)),
	)
	if !seen.Highlighted {
		t.Errorf("new row in view (%+v) but not highlighted", seen)
	}
	var formHeaders string
	run(t, ctx, "form cleared", chromedp.Value("#stage-headers", &formHeaders, chromedp.ByID))
	if formHeaders != "" {
		t.Errorf("headers field keeps %q after staging; want it cleared", formHeaders)
	}
	screenshot(t, ctx, artifactDir(t), "page-staged-with-headers.png", 1200)
	problems.check(t)
}

// Unstaging a file with an open handle asks in its row first: "Keep it"
// keeps it staged, "Unstage anyway" unstages it. A file nobody uses goes
// at the first click.
func TestBrowserPageUnstageConfirm(t *testing.T) {
	sink := newLogSink(t)
	mountDir := t.TempDir()
	need(t, "FUSE", fuse.Check(mountDir))
	chromiumPath(t)
	origin := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 93, Size: 3000}, Name: "/open.bin"})
	srv := startFSM(t, sink, mountDir)
	ctx := newBrowser(t, sink)
	problems := watchPage(ctx)
	token := openPage(t, ctx, srv)
	for _, name := range []string{"open.bin", "idle.bin"} {
		if code, body := apiStage(t, srv, token, origin.URL(), name); code != http.StatusCreated {
			t.Fatalf("stage %s: %d %s", name, code, body)
		}
	}
	f, err := os.Open(filepath.Join(mountDir, "open.bin"))
	if err != nil {
		t.Fatalf("open through FUSE: %v", err)
	}
	closed := false
	closeFile := func() {
		if !closed {
			closed = true
			f.Close()
		}
	}
	t.Cleanup(closeFile)

	var unstageClass string
	run(t, ctx, "the open handle shows",
		chromedp.Poll(`(() => { const r = `+rowJS("open.bin")+`; return !!r && r.querySelector('.handles').textContent === '1 open handle'; })()`, nil),
		chromedp.Evaluate(`(`+rowJS("open.bin")+`).querySelector('button.unstage').className`, &unstageClass),
	)
	if !strings.Contains(unstageClass, "secondary") {
		t.Errorf("Unstage button has class %q, want it secondary", unstageClass)
	}

	var question string
	run(t, ctx, "unstage asks",
		chromedp.Click(`#files li.file[data-name="open.bin"] button.unstage`, chromedp.ByQuery),
		chromedp.Poll(`!(`+rowJS("open.bin")+`).querySelector('.confirm').hidden`, nil),
		chromedp.Text(`#files li.file[data-name="open.bin"] .confirm-text`, &question, chromedp.ByQuery),
	)
	if !strings.Contains(question, "1 open handle") {
		t.Errorf("the question says %q; want it to name the open handle", question)
	}
	screenshot(t, ctx, artifactDir(t), "page-unstage-confirm.png", 1200)
	if names := listedNames(t, srv); len(names) != 2 {
		t.Errorf("while the page asks, fsm lists %v; want both files still staged", names)
	}

	run(t, ctx, "keep it",
		chromedp.Click(`#files li.file[data-name="open.bin"] button.confirm-no`, chromedp.ByQuery),
		chromedp.Poll(`(`+rowJS("open.bin")+`).querySelector('.confirm').hidden`, nil),
	)
	if names := listedNames(t, srv); len(names) != 2 {
		t.Errorf("after Keep it, fsm lists %v; want both files still staged", names)
	}

	run(t, ctx, "unstage anyway",
		chromedp.Click(`#files li.file[data-name="open.bin"] button.unstage`, chromedp.ByQuery),
		chromedp.Poll(`!(`+rowJS("open.bin")+`).querySelector('.confirm').hidden`, nil),
		chromedp.Click(`#files li.file[data-name="open.bin"] button.confirm-yes`, chromedp.ByQuery),
		chromedp.Poll(`!(`+rowJS("open.bin")+`)`, nil),
	)
	closeFile()

	// The idle file: one click, no question. The page records whether the
	// question ever showed in its row.
	run(t, ctx, "unstage an idle file",
		chromedp.Evaluate(`(() => { const r = `+rowJS("idle.bin")+`; window.asked = false;
			new MutationObserver(() => { if (!r.querySelector('.confirm').hidden) window.asked = true; })
				.observe(r, {attributes: true, subtree: true, attributeFilter: ['hidden']}); })()`, nil),
		chromedp.Click(`#files li.file[data-name="idle.bin"] button.unstage`, chromedp.ByQuery),
		chromedp.Poll(`!(`+rowJS("idle.bin")+`)`, nil),
	)
	var asked bool
	run(t, ctx, "was it asked", chromedp.Evaluate(`window.asked`, &asked))
	if asked {
		t.Error("unstaging an idle file without handles asked first")
	}
	if names := listedNames(t, srv); len(names) != 0 {
		t.Errorf("after unstaging both, fsm lists %v", names)
	}
	problems.check(t)
}

// A failed source shows its reason and no bar; the sort control orders the
// rows by name, state and progress; the filter hides rows whose names do
// not match and says how many it hides.
func TestBrowserPageSortFilterFailed(t *testing.T) {
	sink := newLogSink(t)
	chromiumPath(t)
	origin := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 94, Size: 2000}, Name: "/f.bin"})
	// A source fsm serve cannot stage (the origin has no such path) stays
	// listed, failed.
	srv := startFSM(t, sink, "", origin.Server.URL+"/missing.bin")
	ctx := newBrowser(t, sink)
	problems := watchPage(ctx)
	token := openPage(t, ctx, srv)
	for _, name := range []string{"c.bin", "z.bin", "b.bin"} {
		if code, body := apiStage(t, srv, token, origin.URL(), name); code != http.StatusCreated {
			t.Fatalf("stage %s: %d %s", name, code, body)
		}
	}
	if err := readAll(srv, "z.bin"); err != nil {
		t.Fatalf("read z.bin: %v", err)
	}

	var failed struct {
		Badge     string `json:"badge"`
		BarHidden bool   `json:"barHidden"`
		Error     string `json:"error"`
	}
	run(t, ctx, "every row settled",
		chromedp.Poll(`(() => { const rs = [...document.querySelectorAll('#files > li.file')];
			const st = Object.fromEntries(rs.map(r => [r.dataset.name, r.dataset.state]));
			return st['missing.bin'] === 'failed' && st['z.bin'] === 'complete' && st['b.bin'] === 'idle' && st['c.bin'] === 'idle'; })()`,
			nil, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Evaluate(`(() => { const r = `+rowJS("missing.bin")+`;
			const bar = r.querySelector('.bar'), e = r.querySelector('.file-error');
			return {badge: r.querySelector('.badge').textContent,
				barHidden: bar.hidden && bar.getBoundingClientRect().height === 0,
				error: e.hidden ? '' : e.textContent}; })()`, &failed),
	)
	if failed.Badge != "failed" || !failed.BarHidden || failed.Error == "" {
		t.Errorf("failed row: %+v; want badge failed, no bar, its reason shown", failed)
	}
	var otherBar bool
	run(t, ctx, "others keep their bar", chromedp.Evaluate(`!(`+rowJS("b.bin")+`).querySelector('.bar').hidden`, &otherBar))
	if !otherBar {
		t.Error("an idle row lost its bar")
	}

	for _, c := range []struct {
		by   string
		want []string
	}{
		{"state", []string{"missing.bin", "b.bin", "c.bin", "z.bin"}},
		{"progress", []string{"z.bin", "b.bin", "c.bin", "missing.bin"}},
		{"name", []string{"b.bin", "c.bin", "missing.bin", "z.bin"}},
	} {
		var got []string
		run(t, ctx, "sort by "+c.by,
			chromedp.SetValue("#sort", c.by, chromedp.ByID),
			chromedp.Evaluate(`document.getElementById('sort').dispatchEvent(new Event('change'))`, nil),
			chromedp.Evaluate(shownNamesJS, &got),
		)
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("sorted by %s: %v, want %v", c.by, got, c.want)
		}
	}

	var shown []string
	var note string
	run(t, ctx, "filter",
		chromedp.SendKeys("#filter", "Z.B", chromedp.ByID),
		chromedp.Poll(`document.querySelectorAll('#files > li.file:not([hidden])').length === 1`, nil),
		chromedp.Evaluate(shownNamesJS, &shown),
		chromedp.Text("#filtered", &note, chromedp.ByID),
	)
	if len(shown) != 1 || shown[0] != "z.bin" || note != "3 files hidden by the filter" {
		t.Errorf("filtered by Z.B: rows %v, note %q; want only z.bin and 3 files hidden", shown, note)
	}
	screenshot(t, ctx, artifactDir(t), "page-filtered.png", 1200)
	run(t, ctx, "clear the filter",
		chromedp.Evaluate(`(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()`, nil),
		chromedp.Evaluate(shownNamesJS, &shown),
	)
	if len(shown) != 4 {
		t.Errorf("cleared filter shows %v, want all 4 rows", shown)
	}
	screenshot(t, ctx, artifactDir(t), "page-sorted-failed.png", 1200)
	problems.check(t)
}

// While a download runs the tab title shows the overall progress
// ("42% · fsm"); once it is done the title is plain again.
func TestBrowserPageTitleProgress(t *testing.T) {
	sink := newLogSink(t)
	chromiumPath(t)
	// 8 MiB at 1 MiB/s per connection: a couple of seconds with four
	// connections, many 250 ms updates of the events stream.
	origin := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 95, Size: 8 * mib}, Name: "/slow.bin", BytesPerSecond: 1 * mib})
	srv := startFSM(t, sink, "")
	ctx := newBrowser(t, sink)
	problems := watchPage(ctx)
	token := openPage(t, ctx, srv)
	if code, body := apiStage(t, srv, token, origin.URL(), "slow.bin"); code != http.StatusCreated {
		t.Fatalf("stage: %d %s", code, body)
	}
	var idleTitle string
	run(t, ctx, "idle title",
		chromedp.Poll(`(() => { const r = `+rowJS("slow.bin")+`; return !!r && r.dataset.state === 'idle'; })()`, nil),
		chromedp.Title(&idleTitle),
	)
	if idleTitle != "fsm" {
		t.Errorf("title with nothing downloading: %q, want fsm", idleTitle)
	}
	read := make(chan error, 1)
	go func() { read <- readAll(srv, "slow.bin") }()

	var during string
	run(t, ctx, "title while downloading",
		chromedp.Poll(`/^(\d|[1-9]\d)% · fsm$/.test(document.title) ? document.title : null`, &during,
			chromedp.WithPollingTimeout(30*time.Second)),
	)
	t.Logf("title while downloading: %q", during)
	if !regexp.MustCompile(`^\d{1,2}% · fsm$`).MatchString(during) {
		t.Errorf("title while downloading: %q", during)
	}
	select {
	case err := <-read:
		if err != nil {
			t.Fatalf("read slow.bin: %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("reader did not finish: %v", context.Cause(ctx))
	}
	run(t, ctx, "title once done",
		chromedp.Poll(`(() => { const r = `+rowJS("slow.bin")+`; return !!r && r.dataset.state === 'complete' && document.title === 'fsm'; })()`,
			nil, chromedp.WithPollingTimeout(30*time.Second)),
	)
	problems.check(t)
}

// A row shows its source URL as a person reads it: escapes decoded, as
// fsm ls shows it, and a query string marked, never shown.
func TestBrowserPageShowsURLDecoded(t *testing.T) {
	sink := newLogSink(t)
	chromiumPath(t)
	origin := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 96, Size: 1000}, Name: "/dir x/café.bin"})
	base := strings.TrimSuffix(origin.URL(), "/dir x/café.bin")
	srv := startFSM(t, sink, "")
	ctx := newBrowser(t, sink)
	problems := watchPage(ctx)
	token := openPage(t, ctx, srv)
	if code, body := apiStage(t, srv, token, base+"/dir%20x/caf%C3%A9.bin?sig=SECRET", "café.bin"); code != http.StatusCreated {
		t.Fatalf("stage: %d %s", code, body)
	}
	var shown string
	run(t, ctx, "the row's URL",
		chromedp.Poll(`(() => { const r = `+rowJS("café.bin")+`; return r ? r.querySelector('.file-url').textContent : null; })()`, &shown),
	)
	if want := base + "/dir x/café.bin?…"; shown != want {
		t.Errorf("row shows the URL %q, want %q", shown, want)
	}
	problems.check(t)
}

// A source whose origin does not tell its size is downloaded whole before
// it is a file; meanwhile its row says it is downloading, with its bytes
// so far, instead of "asking the origin…" until the last byte.
func TestBrowserPageUnknownSizeSoFar(t *testing.T) {
	sink := newLogSink(t)
	chromiumPath(t)
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // chunked, no size, no Range: the probe's GET too
		if r.Method != http.MethodGet {
			return
		}
		w.Write(bytes.Repeat([]byte{'a'}, 300_000))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write(bytes.Repeat([]byte{'b'}, 1000))
	}))
	defer origin.Close()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	srv := startFSM(t, sink, "")
	ctx := newBrowser(t, sink)
	problems := watchPage(ctx)
	token := openPage(t, ctx, srv)
	staged := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.url("/.fsm/api/v1/files"), strings.NewReader(`{"url":"`+origin.URL+`/growing.bin"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			staged <- 0
			return
		}
		resp.Body.Close()
		staged <- resp.StatusCode
	}()
	var amount, badge string
	run(t, ctx, "the row while it downloads whole",
		chromedp.Poll(`(() => { const r = `+rowJS("growing.bin")+`; return r && r.querySelector('.amount').textContent.includes('so far') ? r.querySelector('.amount').textContent : null; })()`, &amount),
		chromedp.Evaluate(rowJS("growing.bin")+`.querySelector('.badge').textContent`, &badge),
	)
	if amount != "300 kB so far, size unknown" || badge != "downloading" {
		t.Errorf("row says %q, badge %q; want %q, downloading", amount, badge, "300 kB so far, size unknown")
	}
	unblock()
	if code := <-staged; code != http.StatusCreated {
		t.Fatalf("stage answered %d, want 201", code)
	}
	run(t, ctx, "the row once staged",
		chromedp.Poll(`(() => { const r = `+rowJS("growing.bin")+`; return r && r.querySelector('.amount').textContent === '301 kB'; })()`, nil),
	)
	problems.check(t)
}
