package testorigin

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Link paces bytes to a total rate shared by every connection that uses it,
// as a user's own up- or downlink does (Options.BytesPerSecond paces each
// response on its own, which a client with several connections beats). It
// is the one pacer of the tests and the bench: Options.SharedBytesPerSecond,
// a paced origin in front of any handler (Handler), a paced upload sink
// (Reader). It counts the bytes it let through, for time series.
type Link struct {
	rate int64 // bytes per second, > 0

	mu   sync.Mutex
	next time.Time // mu guards next: when every byte reserved so far has left

	moved atomic.Int64 // bytes whose slot has come
}

// NewLink returns a link of bytesPerSecond (> 0), idle so far.
func NewLink(bytesPerSecond int64) *Link { return &Link{rate: max(bytesPerSecond, 1)} }

// LinkChunk is the most one Take of the paced writer and reader reserves:
// small next to a second at the rates used, so the flow is smooth, and
// large enough to cost little.
const LinkChunk = 32 << 10

// linkSlack bounds the credit a link earns while idle or after late
// wake-ups: enough that timer overshoot on a loaded machine does not keep
// the link below its rate (a multipart reader hands out 4 KiB at a time, a
// fraction of a timer's latency), too little to let a burst through.
const linkSlack = 50 * time.Millisecond

// reserve hands n bytes to the link and returns when they may leave: after
// every byte handed to it before, at the link's rate.
func (l *Link) reserve(n int64) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	// An idle link, a new one included, has saved up linkSlack: the first
	// window of a measurement sees the link's rate, not a slow start.
	if floor := now.Add(-linkSlack); l.next.Before(floor) {
		l.next = floor
	}
	l.next = l.next.Add(time.Duration(float64(n) / float64(l.rate) * float64(time.Second)))
	return l.next
}

// Take reserves n bytes and waits until they may pass, or until ctx ends.
func (l *Link) Take(ctx context.Context, n int) error {
	if wait := time.Until(l.reserve(int64(n))); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	l.moved.Add(int64(n))
	return nil
}

// Moved returns how many bytes have passed the link so far.
func (l *Link) Moved() int64 { return l.moved.Load() }

// Handler serves next with every response body going through the link.
func (l *Link) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&pacedWriter{ResponseWriter: w, ctx: r.Context(), link: l}, r)
	})
}

// Reader paces a request body through the link; ctx is the request's.
func (l *Link) Reader(ctx context.Context, body io.ReadCloser) io.ReadCloser {
	return &pacedReader{ReadCloser: body, ctx: ctx, link: l}
}

// pacedWriter sends a response body through a link.
type pacedWriter struct {
	http.ResponseWriter
	ctx  context.Context
	link *Link
}

// Unwrap lets http.ResponseController (the origin flushes through one)
// reach the real writer.
func (w *pacedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *pacedWriter) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 {
		n := min(len(p), LinkChunk)
		if err := w.link.Take(w.ctx, n); err != nil {
			return done, err
		}
		k, err := w.ResponseWriter.Write(p[:n])
		done += k
		if err != nil {
			return done, err
		}
		p = p[n:]
	}
	return done, nil
}

// pacedReader reads a request body through a link: each read is paid for
// after it, so the reader never waits for bytes that never come.
type pacedReader struct {
	io.ReadCloser
	ctx  context.Context
	link *Link
}

func (r *pacedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p[:min(len(p), LinkChunk)])
	if n > 0 {
		if terr := r.link.Take(r.ctx, n); terr != nil && err == nil {
			err = terr
		}
	}
	return n, err
}
