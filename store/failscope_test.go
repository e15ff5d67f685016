package store

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestGiveUpFailsOnlyItsOwnReads: a fetch for region B gives up (the origin
// keeps answering 503 there). Its error must reach B's reader only, not
// reader A, whose own fetch is healthy and delivers once B has failed.
func TestGiveUpFailsOnlyItsOwnReads(t *testing.T) {
	const size = 4 << 20
	data := bytes.Repeat([]byte{7}, size)
	release := make(chan struct{}) // A's bytes are held back until B failed
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := rangeStart(r.Header.Get("Range"))
		if start >= 2<<20 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("ETag", `"x"`)
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	so := fastOpts()
	so.Dir = t.TempDir()
	so.Client = &http.Client{Transport: tr}
	so.Logger = quietLogger()
	m, err := NewManager(so)
	must(t, err)
	defer m.Close(context.Background())
	s, err := m.create(testSource{Name: "f", URL: srv.URL, Size: size, ETag: `"x"`}.split())
	must(t, err)

	errA := make(chan error, 1)
	go func() {
		p := make([]byte, 1000)
		_, err := s.ReadAt(context.Background(), p, 0)
		errA <- err
	}()
	eventually(t, "reader A waiting", func() bool { return waiters(s) == 1 })
	p := make([]byte, 1000)
	_, errB := s.ReadAt(context.Background(), p, 3<<20)
	close(release)
	if errB == nil {
		t.Fatal("reader B should fail (503 for good)")
	}
	if err := wait(t, errA, "reader A"); err != nil {
		t.Fatalf("reader A's bytes were on their way, yet it failed with B's error: %v", err)
	}
}
