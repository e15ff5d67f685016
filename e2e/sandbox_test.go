//go:build fuse && linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"fsm/guard"
	"fsm/internal/fsmtest"
	"fsm/store"
	"fsm/vfs"
	"fsm/webdav"
)

// Each body marks its own document from script. A sandboxed document runs no
// script, and a file the browser downloads instead renders nothing, so the
// marker is set only where a staged file's script ran on fsm's origin.
const (
	htmlBody  = `<!doctype html><html><head><title>t</title></head><body><script>document.documentElement.setAttribute('data-ran','1')</script></body></html>`
	svgBody   = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>document.documentElement.setAttribute('data-ran','1')</script></svg>`
	xhtmlBody = `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head><body><script>document.documentElement.setAttribute('data-ran','1')</script></body></html>`
)

const ranJS = `document.documentElement ? document.documentElement.getAttribute('data-ran') === '1' : false`

// hostileOrigin serves body under every path with the given Content-Type,
// with HEAD and Range as a well-behaved origin does.
func hostileOrigin(t *testing.T, contentType string, body []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		http.ServeContent(w, r, "", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowserRunsNoStagedScript: a file whose origin answers with a type
// list browsers resolve to a scriptable type, or with a scriptable type
// outright, never runs script on fsm's origin in real Chromium, whose
// document there could read the control page's token.
func TestBrowserRunsNoStagedScript(t *testing.T) {
	cases := []struct {
		contentType string
		body        string
	}{
		{"text/plain, text/html", htmlBody},
		{"image/png, image/svg+xml", svgBody},
		{"x/x, text/xml", xhtmlBody},
		{"image/svg+xml", svgBody},
		{"application/xhtml+xml", xhtmlBody},
		{"text/xml", xhtmlBody},
	}
	sink := newLogSink(t)
	ctx := newBrowser(t, sink)
	run(t, ctx, "deny downloads", browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorDeny))

	// The marker must be able to fire: the same bodies, served plainly,
	// run their script in this browser.
	for _, c := range []struct{ contentType, body string }{{"text/html", htmlBody}, {"image/svg+xml", svgBody}, {"application/xhtml+xml", xhtmlBody}} {
		plainSrv := hostileOrigin(t, c.contentType, []byte(c.body))
		var ran bool
		run(t, ctx, "control "+c.contentType, chromedp.Navigate(plainSrv.URL+"/page"), chromedp.Evaluate(ranJS, &ran))
		if !ran {
			t.Fatalf("control: %s served plainly ran no script, so the marker proves nothing", c.contentType)
		}
	}

	fsys, _ := fsmtest.Tree(t, store.Options{Logger: newLogger(sink)})
	dav := guard.Host(webdav.NewHandler(fsys, webdav.Options{Logger: newLogger(sink)}), nil, "127.0.0.1:0")
	fsmSrv := httptest.NewServer(dav)
	t.Cleanup(fsmSrv.Close)
	// A blank page of fsm's own origin to start each case from.
	blank := fsmSrv.URL + "/"

	for i, c := range cases {
		name := fmt.Sprintf("evil%d", i) // no extension: the origin's type is all there is
		origin := hostileOrigin(t, c.contentType, []byte(c.body))
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if _, err := fsys.Stage(sctx, vfs.Request{URL: origin.URL + "/" + name, Name: name}); err != nil {
			cancel()
			t.Fatalf("stage %q: %v", c.contentType, err)
		}
		cancel()
		var ran bool
		var at string
		run(t, ctx, "start "+name, chromedp.Navigate(blank))
		// A download ends the navigation without a new document; that is
		// one of the safe outcomes, so its error is not the test's.
		_ = chromedp.Run(ctx, chromedp.Navigate(fsmSrv.URL+"/"+name))
		run(t, ctx, "inspect "+name, chromedp.Evaluate(ranJS, &ran), chromedp.Location(&at))
		if ran {
			t.Errorf("origin type %q: the staged file's script ran on fsm's origin (at %s)", c.contentType, at)
		}
		sink.Logf("origin type %q: browser at %s, no script ran", c.contentType, at)
	}
}
