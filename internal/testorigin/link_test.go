package testorigin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Two connections through one link share its rate: together they take as
// long as one would with all the bytes, which a per-connection pacer beats.
func TestLinkSharedRate(t *testing.T) {
	t.Parallel()
	const rate, each = 2e6, 200 << 10
	l := NewLink(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent := 0; sent < each; sent += LinkChunk {
				if err := l.Take(context.Background(), min(LinkChunk, each-sent)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := time.Duration(float64(2*each)/rate*float64(time.Second)) - linkSlack
	if el := time.Since(start); el < want {
		t.Errorf("2 × %d bytes at %v B/s took %v, want at least %v", each, rate, el, want)
	}
	if got := l.Moved(); got != 2*each {
		t.Errorf("Moved = %d, want %d", got, 2*each)
	}
}

// A Take whose slot is far off returns the context's error when it ends,
// and the bytes are not counted as moved.
func TestLinkTakeCancel(t *testing.T) {
	t.Parallel()
	l := NewLink(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Take(ctx, 1000); !errors.Is(err, context.Canceled) {
		t.Fatalf("Take = %v, want context.Canceled", err)
	}
	if l.Moved() != 0 {
		t.Fatalf("Moved = %d after a cancelled Take", l.Moved())
	}
}

// Handler and Reader pass every byte through unchanged and count them.
func TestLinkHandlerReader(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80 000 bytes, several chunks
	down, up := NewLink(100e6), NewLink(100e6)
	srv := httptest.NewServer(down.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := io.ReadAll(up.Reader(r.Context(), r.Body))
		if err != nil || !bytes.Equal(got, body) {
			http.Error(w, "upload corrupted", http.StatusBadRequest)
			return
		}
		w.Write(got)
	})))
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("status %d, %d bytes back, err %v", resp.StatusCode, len(got), err)
	}
	if down.Moved() != int64(len(body)) || up.Moved() != int64(len(body)) {
		t.Fatalf("moved down %d, up %d, want %d each", down.Moved(), up.Moved(), len(body))
	}
}
