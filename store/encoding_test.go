package store

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"fsm/internal/testorigin"
)

// encodingOrigin wraps a well-behaved origin that labels its answers with
// Content-Encoding: gzip on the requests where encode says so, as a
// misconfigured CDN does, and records each request's Accept-Encoding.
func encodingOrigin(t *testing.T, o *testorigin.Origin, encode func(r *http.Request) bool) (*httptest.Server, *recorder) {
	var rec recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r.Header)
		if encode(r) {
			w.Header().Set("Content-Encoding", "gzip")
		}
		o.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &rec
}

// TestEncodedAnswersRefused: an answer whose Content-Encoding is not
// identity is never taken for the file's bytes, on the probe and on ranged
// and whole downloads alike, and every request asks for identity.
func TestEncodedAnswersRefused(t *testing.T) {
	c := testorigin.Content{Seed: 71, Size: 600_000}
	for _, tc := range []struct {
		name   string
		oo     testorigin.Options
		encode func(r *http.Request) bool
		probe  bool // the probe itself must fail
	}{
		{"HEAD encoded", testorigin.Options{}, func(r *http.Request) bool { return true }, true},
		{"one-byte probe GET encoded", testorigin.Options{NoHEAD: true}, func(r *http.Request) bool { return r.Method == http.MethodGet }, true},
		{"ranged GET encoded", testorigin.Options{}, func(r *http.Request) bool { return r.Method == http.MethodGet }, false},
		{"whole GET encoded", testorigin.Options{IgnoreRange: true}, func(r *http.Request) bool { return r.Method == http.MethodGet }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oo := tc.oo
			oo.Content = c
			e := newEnv(t, oo, fastOpts())
			srv, rec := encodingOrigin(t, e.o, tc.encode)
			u := srv.URL + "/file.bin"
			r, err := e.m.Probe(context.Background(), u, nil)
			if tc.probe {
				if !errors.Is(err, ErrEncoded) {
					t.Fatalf("probe: %v, want ErrEncoded", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				s, err := e.m.Stage(context.Background(), Source{Name: "file.bin", URL: u}, r, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, err = readAt(t, s, 0, 64<<10)
				if !errors.Is(err, ErrEncoded) {
					t.Fatalf("read: %v, want ErrEncoded", err)
				}
				if p := s.Progress(); p.Present != 0 {
					t.Errorf("%d encoded bytes were stored as the file's", p.Present)
				}
			}
			for _, h := range rec.all() {
				if got := h.Get("Accept-Encoding"); got != "identity" {
					t.Errorf("a request asked for Accept-Encoding %q, want identity", got)
				}
			}
		})
	}
}
