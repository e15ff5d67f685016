package store

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// An origin without validators that ignores Range is read as one stream. If
// its file changes between a cut and the restart, the replayed bytes differ
// from those already present: the store fails with ErrChanged rather than
// append the new version to the old one.
func TestStreamRestartDetectsChangeWithoutValidators(t *testing.T) {
	c := testorigin.Content{Seed: 51, Size: 1 << 20}
	e := newEnv(t, testorigin.Options{
		Content: c, IgnoreRange: true, NoETag: true, NoLastModified: true,
		CutAfter: 256 << 10, CutCount: 1, ChangeAfter: 256 << 10,
	}, fastOpts())
	s := e.newStore(t, testSource{Name: "f", URL: e.o.URL(), Size: c.Size, NoRange: true})
	p := make([]byte, c.Size)
	_, err := s.ReadAt(context.Background(), p, 0)
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("read across a restart onto a changed file: %v, want ErrChanged", err)
	}
	// What was handed out before is the first version's.
	if _, err := s.ReadAt(context.Background(), p[:1000], 0); err == nil {
		t.Fatal("reads go on after the change was detected")
	}
}

// Some servers answer a date If-Range with the whole file instead of
// comparing it. The store must then ask again without If-Range (the
// response's validators still guard the version) and keep random access,
// not fall back to reading the file as one stream.
func TestDateIfRangeRefusedKeepsRanges(t *testing.T) {
	const size = 4 << 20
	c := testorigin.Content{Seed: 52, Size: size}
	data := c.Bytes(0, size)
	lm := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	var mu headerLog
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.add(r.Header.Get("Range"), r.Header.Get("If-Range"))
		if r.Header.Get("If-Range") != "" {
			r.Header.Del("Range") // this server never compares If-Range dates
		}
		http.ServeContent(w, r, "f", lm, bytes.NewReader(data))
	}))
	defer srv.Close()
	so := fastOpts()
	so.Dir = t.TempDir()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	so.Client = &http.Client{Transport: tr}
	so.Logger = quietLogger()
	m, err := NewManager(so)
	must(t, err)
	defer m.Close(context.Background())
	s, err := m.create(testSource{Name: "f", URL: srv.URL, Size: size, LastModified: lm}.split())
	must(t, err)
	checkRead(t, s, c, size-4096, 4096)
	s.mu.Lock()
	stream := s.stream
	s.mu.Unlock()
	if stream {
		t.Fatalf("store fell back to one stream; requests (Range, If-Range): %v", mu.all())
	}
	var plain bool
	for _, q := range mu.all() {
		if q[0] != "" && q[1] == "" {
			plain = true
		}
	}
	if !plain {
		t.Fatalf("no ranged request without If-Range was tried: %v", mu.all())
	}
}

// headerLog records (Range, If-Range) of each request, from handler goroutines.
type headerLog struct {
	mu   sync.Mutex
	seen [][2]string
}

func (l *headerLog) add(rng, ifRange string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, [2]string{rng, ifRange})
}

func (l *headerLog) all() [][2]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][2]string(nil), l.seen...)
}

// Block checksums cost CPU for every byte, so only a file without any
// validator keeps them: with an ETag or a Last-Modified, even one read as
// a stream (its origin ignores Range), the validators guard the version.
func TestDigestsOnlyWithoutValidators(t *testing.T) {
	tests := []struct {
		name    string
		oo      testorigin.Options
		want    bool
		noRange bool
	}{
		{"etag and date", testorigin.Options{}, false, false},
		{"date only", testorigin.Options{NoETag: true}, false, false},
		{"validators, ignores Range", testorigin.Options{IgnoreRange: true}, false, true},
		{"no validators", testorigin.Options{NoETag: true, NoLastModified: true}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testorigin.Content{Seed: 58, Size: 3 << 20}
			tc.oo.Content = c
			e := newEnv(t, tc.oo, fastOpts())
			src := e.source("f")
			if tc.oo.NoETag {
				src.ETag = ""
			}
			if tc.oo.NoLastModified {
				src.LastModified = time.Time{}
			}
			src.NoRange = tc.noRange
			s := e.newStore(t, src)
			checkRead(t, s, c, 0, c.Size)
			s.mu.Lock()
			sums := 0
			if s.dig != nil {
				sums = len(s.dig.sums)
			}
			s.mu.Unlock()
			if got := sums > 0; got != tc.want {
				t.Fatalf("%d block checksums kept, want checksums: %v", sums, tc.want)
			}
		})
	}
}
