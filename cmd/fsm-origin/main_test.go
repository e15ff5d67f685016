package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The origin answers HEAD, whole GETs and Range GETs with Last-Modified,
// and a rate limit makes a body take at least its size over the rate.
func TestOrigin(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("0123456789"), 30_000) // 300 kB
	if err := os.WriteFile(filepath.Join(dir, "a b.bin"), content, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, rate := range []int64{0, 1_000_000} {
		srv := httptest.NewServer(handler(dir, rate, slog.New(slog.DiscardHandler)))
		get := func(method, rangeHdr string) (*http.Response, []byte) {
			t.Helper()
			req, _ := http.NewRequest(method, srv.URL+"/a%20b.bin", nil)
			if rangeHdr != "" {
				req.Header.Set("Range", rangeHdr)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp, b
		}
		resp, _ := get(http.MethodHead, "")
		if resp.StatusCode != 200 || resp.ContentLength != int64(len(content)) || resp.Header.Get("Last-Modified") == "" || resp.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("rate %d: HEAD: %s, length %d, headers %v", rate, resp.Status, resp.ContentLength, resp.Header)
		}
		resp, body := get(http.MethodGet, "bytes=1000-1999")
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, content[1000:2000]) {
			t.Errorf("rate %d: Range GET: %s, %d bytes", rate, resp.Status, len(body))
		}
		start := time.Now()
		resp, body = get(http.MethodGet, "")
		took := time.Since(start)
		if resp.StatusCode != 200 || !bytes.Equal(body, content) {
			t.Errorf("rate %d: GET: %s, %d bytes", rate, resp.Status, len(body))
		}
		// 300 kB at 1 MB/s: the last tenth-second slice is due at 0.2 s.
		if rate > 0 && took < 200*time.Millisecond {
			t.Errorf("rate %d: 300 kB came in %s, faster than the limit allows", rate, took)
		}
		srv.Close()
	}
}
