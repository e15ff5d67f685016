package store

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// Bodies reach the temp file by splice where net/http hands them through
// unchanged (a Content-Length body on a plain TCP connection), and by read
// and write otherwise; either way the reader gets the origin's bytes, also
// across cut connections and with bytes that come in small pieces.
func TestSplicePath(t *testing.T) {
	c := testorigin.Content{Seed: 61, Size: 3<<20 + 17}
	tests := []struct {
		name   string
		oo     testorigin.Options
		plain  bool // the origin client is the test's own, not ours
		splice bool // bytes are expected to arrive by splice
	}{
		{"ranged", testorigin.Options{}, false, true},
		{"ranged, cut three times", testorigin.Options{CutAfter: 700 << 10, CutCount: 3}, false, true},
		{"ranged, trickled in small pieces", testorigin.Options{BytesPerSecond: 16 << 20}, false, true},
		{"origin ignores Range: one compared stream", testorigin.Options{IgnoreRange: true}, false, false},
		{"a client of the caller's own", testorigin.Options{}, true, false},
	}
	if runtime.GOOS != "linux" {
		for i := range tests {
			tests[i].splice = false
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			so := fastOpts()
			so.RetryBudget = 10 * time.Second
			if tc.plain {
				tr := http.DefaultTransport.(*http.Transport).Clone()
				t.Cleanup(tr.CloseIdleConnections)
				so.Client = &http.Client{Transport: tr}
			}
			tc.oo.Content = c
			e := newEnv(t, tc.oo, so)
			s := e.newStore(t, e.source("f"))
			checkRead(t, s, c, 0, c.Size)
			// Each response's first bytes come with its headers, read
			// before the body reads can splice: a few KiB per request.
			switch n := s.spliced.Load(); {
			case tc.splice && n < c.Size*9/10:
				t.Errorf("%d of %d bytes spliced into the file, want nearly all", n, c.Size)
			case !tc.splice && n != 0:
				t.Errorf("%d bytes spliced, want none", n)
			}
		})
	}
}

// A 206 sent chunked (no Content-Length) has framing between its bytes on
// the wire: it is read, not spliced, and the reader gets the body.
func TestChunkedRangeBody(t *testing.T) {
	c := testorigin.Content{Seed: 62, Size: 1<<20 + 3}
	body := c.Bytes(0, c.Size)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(noLength{w}, r, "f", time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	m, err := NewManager(Options{Dir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(t.Context()) })
	s, err := m.create(testSource{Name: "f", URL: srv.URL + "/f", Size: c.Size, ETag: `"v1"`}.split())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close(t.Context()) })
	checkRead(t, s, c, 0, c.Size)
	if n := s.spliced.Load(); n != 0 {
		t.Errorf("%d bytes of a chunked body spliced, want none", n)
	}
}

// noLength drops Content-Length, so net/http's server sends the body
// chunked.
type noLength struct{ http.ResponseWriter }

func (w noLength) WriteHeader(code int) {
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(code)
}
