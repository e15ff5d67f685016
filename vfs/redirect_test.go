package vfs_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/store"
	"fsm/vfs"
)

// TestExpiredRedirectTargetResolvedAgain: a stable download URL that redirects to a
// short-lived signed URL (GitHub release assets, many CDNs/S3 presigners).
// fsm stores the final signed URL and keeps fetching it; once it expires,
// every read of bytes not yet present fails for good, although the source
// URL the user staged still works.
func TestExpiredRedirectTargetResolvedAgain(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	lm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	// A signed URL expires by use, not by time, so no clock decides the
	// test: each one serves signedUses requests (the probe and the first
	// read), and every later request for it is refused as expired.
	const signedUses = 2
	var (
		mu     sync.Mutex
		issued int
		used   = map[string]int{} // requests per signed URL
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/release/big.bin", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		issued++
		n := issued
		mu.Unlock()
		http.Redirect(w, r, "/signed/big.bin?n="+strconv.Itoa(n)+"&sig=SECRET", http.StatusFound)
	})
	mux.HandleFunc("/signed/big.bin", func(w http.ResponseWriter, r *http.Request) {
		n := r.URL.Query().Get("n")
		mu.Lock()
		used[n]++
		expired := used[n] > signedUses
		mu.Unlock()
		if expired {
			http.Error(w, "Request has expired", http.StatusForbidden)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "big.bin", lm, bytes.NewReader(data))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	fsys, _ := fsmtest.Tree(t, store.Options{RetryBase: time.Millisecond, RetryMax: time.Millisecond, Retries: 1, ChunkSize: 64 << 10, DemandChunk: 64 << 10})
	f, err := fsys.Stage(context.Background(), vfs.Request{URL: srv.URL + "/release/big.bin"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := fsys.Open(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p := make([]byte, 1000)
	if _, err := h.ReadAt(context.Background(), p, 0); err != nil {
		t.Fatalf("first read: %v", err)
	}
	// Eviction, a restart of a stalled download, or a far read: any new
	// request after the signed URL expired. Readahead may have used up
	// several signed URLs by now; the far read needs yet another request.
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
		_, err := fsys.Stage(context.Background(), vfs.Request{URL: u})
		if err == nil {
			t.Fatalf("%s: staged", u)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error leaks the signature: %v", err)
		}
	}
	_ = fmt.Sprint
}
