package store

import (
	"bytes"
	"context"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSmokeReadAll(t *testing.T) {
	data := make([]byte, 20<<20+123)
	rand.New(rand.NewSource(1)).Read(data)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "f", time.Unix(1700000000, 0), bytes.NewReader(data))
	}))
	defer srv.Close()
	m, err := NewManager(Options{Dir: t.TempDir(), ChunkSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.New(Source{Name: "f", URL: srv.URL, Size: int64(len(data)), ETag: `"v1"`, LastModified: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	buf := make([]byte, 100000)
	for _, off := range []int64{int64(len(data)) - 5000, 0, 7 << 20, 3} {
		n, err := s.ReadAt(ctx, buf, off)
		want := data[off:min(off+int64(len(buf)), int64(len(data)))]
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("off %d: mismatch n=%d err=%v", off, n, err)
		}
	}
	got := make([]byte, len(data))
	n, err := s.ReadAt(ctx, got, 0)
	if n != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("full read n=%d err=%v", n, err)
	}
	t.Logf("%+v", s.Progress())
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_ = strings.TrimSpace
}
