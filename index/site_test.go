package index

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// site is a test origin of index pages: each path answers one fixed page,
// redirect or status, and every request is logged. "{{HOST}}" in a body
// becomes the origin's host:port.
type site struct {
	srv *httptest.Server

	mu   sync.Mutex
	reqs []*http.Request // guarded by mu
}

// resp is what one path answers.
type resp struct {
	status      int    // 0 means 200
	contentType string // sent as-is; "" sends none (net/http's sniffing is suppressed)
	body        string
	location    string // with status 3xx
	header      http.Header
}

func newSite(t *testing.T, pages map[string]resp) *site {
	t.Helper()
	s := &site{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		p, ok := pages[r.URL.EscapedPath()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range p.header {
			w.Header()[k] = v
		}
		w.Header()["Content-Type"] = nil
		if p.contentType != "" {
			w.Header().Set("Content-Type", p.contentType)
		}
		if p.location != "" {
			w.Header().Set("Location", p.location)
		}
		status := p.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(strings.ReplaceAll(p.body, "{{HOST}}", r.Host)))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *site) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}

func (s *site) paths() []string {
	var out []string
	for _, r := range s.requests() {
		out = append(out, r.URL.RequestURI())
	}
	return out
}

func testdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
