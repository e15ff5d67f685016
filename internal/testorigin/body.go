package testorigin

import (
	"context"
	"net/http"
	"time"
)

// waitGate holds the request while a Block barrier is up.
func (o *Origin) waitGate(ctx context.Context) bool {
	o.mu.Lock()
	gate := o.gate
	o.mu.Unlock()
	if gate == nil {
		return true
	}
	o.waiting.Add(1)
	defer o.waiting.Add(-1)
	select {
	case <-gate:
		return true
	case <-ctx.Done():
	case <-o.done:
	}
	return false
}

// sleep waits for d, returning false early if the client goes away or the
// origin closes, so no handler goroutine outlives its connection.
func (o *Origin) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-o.done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-o.done:
	}
	return false
}

// maxChunk bounds each Write: large enough to be cheap unthrottled, small
// enough that throttled output is smooth rather than bursty.
const maxChunk = 32 << 10

// writeBody writes n bytes of c starting at start, pacing to
// BytesPerSecond and through the shared link.
func (o *Origin) writeBody(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, idx int, c Content, start, n int64) error {
	bps, shared := o.opts.BytesPerSecond, o.opts.SharedBytesPerSecond
	chunk := int64(maxChunk)
	// About 64 writes per second at low rates keeps pacing smooth; at
	// high rates the chunk cap gives more, shorter sleeps.
	if bps > 0 {
		chunk = min(max(bps/64, 1), chunk)
	}
	if shared > 0 {
		chunk = min(max(shared/64, 1), chunk)
	}
	buf := make([]byte, min(chunk, max(n, 1)))
	t0 := time.Now()
	var sent int64
	for sent < n {
		m := min(int64(len(buf)), n-sent)
		if bps > 0 {
			// Token bucket starting empty, with absolute deadlines so timer
			// overshoot does not accumulate: the bytes up to sent+m may
			// leave only once (sent+m)/bps seconds have elapsed, so the
			// client never sees data faster than the configured rate.
			due := t0.Add(time.Duration(float64(sent+m) / float64(bps) * float64(time.Second)))
			if !o.sleep(ctx, time.Until(due)) {
				return context.Canceled
			}
		}
		if o.link != nil && !o.sleep(ctx, time.Until(o.link.reserve(m))) {
			return context.Canceled
		}
		c.fill(buf[:m], start+sent)
		k, err := w.Write(buf[:m])
		o.account(idx, int64(k))
		sent += int64(k)
		if err != nil {
			return err
		}
		if bps > 0 || shared > 0 {
			if err := rc.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}
