package page

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// Every answer, found or not, carries the security headers and no CORS.
func TestSecurityHeaders(t *testing.T) {
	h := Handler("tok")
	for _, path := range []string{"/", "/app.js", "/style.css", "/icon.svg", "/nope", "/index.html"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			resp, _ := get(t, h, method, path, "Origin", "http://evil.example")
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s %s: CSP %q lacks %q", method, path, csp, want)
				}
			}
			for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "data:"} {
				if strings.Contains(csp, bad) {
					t.Errorf("%s %s: CSP %q allows %q", method, path, csp, bad)
				}
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s %s: X-Content-Type-Options %q", method, path, got)
			}
			if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("%s %s: Referrer-Policy %q", method, path, got)
			}
			for name := range resp.Header {
				if strings.HasPrefix(strings.ToLower(name), "access-control-") {
					t.Errorf("%s %s: CORS header %s: %q", method, path, name, resp.Header.Get(name))
				}
			}
		}
	}
}

// The token lands in the meta tag exactly, escaped for the attribute, and
// the page that holds it is never cached.
func TestTokenInMeta(t *testing.T) {
	const token = `a"b<c>&d'e` + "\u00e9"
	resp, body := get(t, Handler(token), http.MethodGet, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("page Cache-Control %q, want no-store", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("page Content-Type %q", got)
	}
	if strings.Contains(body, token) || strings.Contains(body, `a"b<c>`) {
		t.Errorf("the token appears unescaped in the page")
	}
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var metas []string
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "meta" && attr(n, "name") == "fsm-token" {
			metas = append(metas, attr(n, "content"))
		}
	})
	if len(metas) != 1 || metas[0] != token {
		t.Fatalf("fsm-token metas %q, want exactly [%q]", metas, token)
	}
}

// The page works under its own CSP: no inline script, no event-handler or
// style attributes, every script and style sheet from this handler; and
// every element the script looks up by id exists.
func TestPageFitsItsPolicy(t *testing.T) {
	h := Handler("tok")
	_, body := get(t, h, http.MethodGet, "/")
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	var scripts, sheets []string
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") || a.Key == "style" {
				t.Errorf("<%s %s=%q>: blocked by the CSP", n.Data, a.Key, a.Val)
			}
			if a.Key == "id" {
				ids[a.Val] = true
			}
		}
		switch {
		case n.Data == "script":
			if n.FirstChild != nil {
				t.Errorf("inline script: %q", n.FirstChild.Data)
			}
			scripts = append(scripts, attr(n, "src"))
		case n.Data == "style":
			t.Errorf("inline <style>")
		case n.Data == "link" && attr(n, "rel") == "stylesheet":
			sheets = append(sheets, attr(n, "href"))
		}
	})
	if len(scripts) != 1 || scripts[0] != "/.fsm/app.js" || len(sheets) != 1 || sheets[0] != "/.fsm/style.css" {
		t.Fatalf("scripts %q, style sheets %q; want the page's own", scripts, sheets)
	}
	_, js := get(t, h, http.MethodGet, "/app.js")
	used := regexp.MustCompile(`\$\('([A-Za-z0-9_-]+)'\)`).FindAllStringSubmatch(js, -1)
	if len(used) == 0 {
		t.Fatal("found no $('id') lookups in app.js")
	}
	for _, m := range used {
		if !ids[m[1]] {
			t.Errorf("app.js looks up #%s, which the page lacks", m[1])
		}
	}
	if strings.Contains(js, "innerHTML") || strings.Contains(js, "eval(") || strings.Contains(js, "new Function") {
		t.Errorf("app.js uses innerHTML or eval")
	}
}

func TestAssets(t *testing.T) {
	h := Handler("tok")
	for path, want := range map[string]string{
		"/app.js":    "text/javascript; charset=utf-8",
		"/style.css": "text/css; charset=utf-8",
		"/icon.svg":  "image/svg+xml",
	} {
		resp, body := get(t, h, http.MethodGet, path)
		embedded, err := assets.ReadFile("assets" + path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || body != string(embedded) {
			t.Errorf("GET %s: %s, %d bytes; want 200 and the embedded %d bytes", path, resp.Status, len(body), len(embedded))
		}
		if got := resp.Header.Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", path)
			continue
		}
		again, _ := get(t, h, http.MethodGet, path, "If-None-Match", etag)
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match its ETag: %s, want 304", path, again.Status)
		}
		head, hbody := get(t, h, http.MethodHead, path)
		if head.StatusCode != http.StatusOK || hbody != "" || head.Header.Get("Content-Type") != want {
			t.Errorf("HEAD %s: %s, body %d bytes, Content-Type %q", path, head.Status, len(hbody), head.Header.Get("Content-Type"))
		}
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := Handler("tok")
	for _, path := range []string{"/index.html", "/assets/app.js", "/app.js/", "/nope", "/api/v1/files", "/.."} {
		resp, body := get(t, h, http.MethodGet, path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
		if strings.Contains(body, "tok") {
			t.Errorf("GET %s: the 404 shows the token", path)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		resp, _ := get(t, h, method, "/")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: %s, Allow %q; want 405 and GET, HEAD", method, resp.Status, resp.Header.Get("Allow"))
		}
	}
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
