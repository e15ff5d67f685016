package main

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// link paces bytes to a total rate shared by every connection that uses it,
// as a user's own up- or downlink does (testorigin's BytesPerSecond paces
// each response on its own, which a client with several connections beats).
// It also counts the bytes it let through, for the plot's time series.
type link struct {
	rate int64 // bytes per second

	mu   sync.Mutex
	next time.Time // mu guards next: when the link is free again

	moved atomic.Int64
}

func newLink(rate int64) *link { return &link{rate: rate} }

// linkChunk is the pacing unit: small next to a second at the rates used
// (tens of MB/s), so the rate is smooth, and large enough to cost little.
const linkChunk = 64 << 10

// linkSlack bounds the catch-up after late wake-ups (a burst of at most
// rate × linkSlack bytes).
const linkSlack = 50 * time.Millisecond

// take reserves n bytes of the link and sleeps until they may pass.
func (l *link) take(ctx context.Context, n int) error {
	l.mu.Lock()
	// A sleeper woken late (a loaded machine) may catch up on up to
	// linkSlack of lost time, so the link keeps its rate on average rather
	// than losing every oversleep; an idle link starts afresh, and a new
	// one with no credit at all.
	now := time.Now()
	if l.next.IsZero() {
		l.next = now
	}
	if earliest := now.Add(-linkSlack); l.next.Before(earliest) {
		l.next = earliest
	}
	l.next = l.next.Add(time.Duration(float64(n) / float64(l.rate) * float64(time.Second)))
	at := l.next
	l.mu.Unlock()
	if err := sleepCtx(ctx, time.Until(at)); err != nil {
		return err
	}
	l.moved.Add(int64(n))
	return nil
}

// pacedWriter sends a response body through a link.
type pacedWriter struct {
	http.ResponseWriter
	ctx  context.Context
	link *link
}

// Unwrap lets http.ResponseController (testorigin flushes through one)
// reach the real writer.
func (w pacedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w pacedWriter) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 {
		n := min(len(p), linkChunk)
		if err := w.link.take(w.ctx, n); err != nil {
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

// paced serves next with every response body going through l.
func paced(l *link, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(pacedWriter{ResponseWriter: w, ctx: r.Context(), link: l}, r)
	})
}
