// Package page serves fsm's control page: one embedded HTML page with its
// script and style sheet, no build step and nothing fetched from elsewhere.
// The page talks only to the control API of the server it came from
// (docs/API.md) and learns the API token from its own HTML, which a page of
// another origin cannot read.
//
// The security headers fit a local control page: a Content-Security-Policy
// that allows only this origin's script, style and connections (no inline
// script, no eval) and no framing, nosniff, no referrer, and no caching of
// the HTML, which holds the token. No CORS header is ever sent.
package page

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"fsm/control/api"
)

//go:embed assets/index.html assets/app.js assets/style.css assets/icon.svg
var assets embed.FS

// contentSecurityPolicy allows nothing but this origin's own files and API.
// frame-ancestors stops clickjacking of the unstage buttons; form-action and
// base-uri close the ways markup alone could send data elsewhere.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one file the handler serves.
type asset struct {
	body        []byte
	contentType string
	etag        string // strong, from the content; "" for the page
}

// Handler serves the control page. It is mounted at /.fsm/ with that prefix
// stripped, so it sees "/" (the page) and "/app.js", "/style.css". token is
// put into the page as <meta name="fsm-token" content="...">, which only
// same-origin script can read.
func Handler(token string) http.Handler {
	index, err := renderIndex(token)
	if err != nil {
		// The template is embedded and fixed: failing here is a build bug.
		panic(err)
	}
	h := &handler{files: map[string]asset{
		"/": {body: index, contentType: "text/html; charset=utf-8"},
	}}
	for path, ctype := range map[string]string{
		"/app.js":    "text/javascript; charset=utf-8",
		"/style.css": "text/css; charset=utf-8",
		"/icon.svg":  "image/svg+xml",
	} {
		b, err := assets.ReadFile("assets" + path)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		h.files[path] = asset{body: b, contentType: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return h
}

// renderIndex fills the token and the API's base path into the page (the
// script reads both from there, so the path is spelled once, in api.Base);
// html/template escapes them for the attributes they land in.
func renderIndex(token string) ([]byte, error) {
	src, err := assets.ReadFile("assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("read page template: %w", err)
	}
	tmpl, err := template.New("index").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("parse page template: %w", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, struct{ Token, API string }{token, api.Base}); err != nil {
		return nil, fmt.Errorf("render page: %w", err)
	}
	return buf.Bytes(), nil
}

type handler struct {
	files map[string]asset // by request path; read-only after Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")

	a, ok := h.files[r.URL.Path]
	if !ok {
		hdr.Set("Cache-Control", "no-store")
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		hdr.Set("Cache-Control", "no-store")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	if a.etag == "" {
		// The page holds the token: never keep it in a cache.
		hdr.Set("Cache-Control", "no-store")
	} else {
		// Assets change only with the binary: revalidate by content hash.
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("ETag", a.etag)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
