package vfs_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/store"
)

// TestExpiredRedirectTargetResolvedAgain: a stable download URL that redirects to a
// short-lived signed URL (GitHub release assets, many CDNs/S3 presigners).
// fsm stores the final signed URL and keeps fetching it; once it expires,
// every read of bytes not yet present fails for good, although the source
// URL the user staged still works.
func TestExpiredRedirectTargetResolvedAgain(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	lm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	var valid atomic.Int64 // signed URLs with exp <= valid are expired
	mux := http.NewServeMux()
	mux.HandleFunc("/release/big.bin", func(w http.ResponseWriter, r *http.Request) {
		exp := time.Now().Add(200 * time.Millisecond).UnixNano()
		http.Redirect(w, r, "/signed/big.bin?exp="+strconv.FormatInt(exp, 10)+"&sig=SECRET", http.StatusFound)
	})
	mux.HandleFunc("/signed/big.bin", func(w http.ResponseWriter, r *http.Request) {
		exp, _ := strconv.ParseInt(r.URL.Query().Get("exp"), 10, 64)
		if time.Now().UnixNano() > exp {
			http.Error(w, "Request has expired", http.StatusForbidden)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(slowWriter{w}, r, "big.bin", lm, bytes.NewReader(data))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_ = valid.Load()

	fsys, _ := fsmtest.Tree(t, store.Options{RetryBase: time.Millisecond, RetryMax: time.Millisecond, Retries: 1, ChunkSize: 64 << 10, DemandChunk: 64 << 10})
	f, err := fsys.Stage(context.Background(), srv.URL+"/release/big.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	h, err := fsys.Open(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p := make([]byte, 1000)
	if _, err := h.ReadAt(context.Background(), p, 0); err != nil {
		t.Fatalf("first read: %v", err)
	}
	// Eviction, a restart of a stalled download, or a far read: any new
	// request after the signed URL expired.
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.ReadAt(ctx, p, int64(len(data))-1000); err != nil {
		t.Fatalf("read after the signed URL expired (the staged URL %s still works): %v", srv.URL+"/release/big.bin", err)
	}
}

// TestStageErrorsHideSignatures: staging errors print the raw source URL with
// its signed query string.
func TestStageErrorsHideSignatures(t *testing.T) {
	fsys, _ := fsmtest.Tree(t, store.Options{})
	for _, u := range []string{
		"ftp://h.example/f.bin?X-Amz-Signature=SECRET",
		"http:///f.bin?X-Amz-Signature=SECRET",
		"http://[::1/f.bin?X-Amz-Signature=SECRET",
	} {
		_, err := fsys.Stage(context.Background(), u, "")
		if err == nil {
			t.Fatalf("%s: staged", u)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error leaks the signature: %v", err)
		}
	}
	_ = fmt.Sprint
}

type slowWriter struct{ http.ResponseWriter }

func (s slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 16<<10)
		m, err := s.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
		time.Sleep(10 * time.Millisecond)
	}
	return n, nil
}
