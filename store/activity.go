package store

import (
	"math"
	"time"
)

// This file keeps what Progress and the logs tell about downloads: the
// recent rate, the connections in use, one line when a download starts and
// one when it completes, and one warning when the origin starts failing and
// one when it recovers.

// rateWindow is how far back Progress.Rate looks.
const rateWindow = 3 * time.Second

// meter sums received bytes per 250 ms slot over the last rateWindow.
type meter struct {
	slots [rateWindow / rateSlot]int64
	at    [rateWindow / rateSlot]int64 // slot number each count belongs to
	first time.Time                    // when this run of traffic began
}

const rateSlot = 250 * time.Millisecond

func (m *meter) add(n int64, now time.Time) {
	if m.sum(now) == 0 {
		m.first = now // traffic after a pause: the rate covers this run only
	}
	k := now.UnixNano() / int64(rateSlot)
	i := k % int64(len(m.slots))
	if m.at[i] != k {
		m.at[i], m.slots[i] = k, 0
	}
	m.slots[i] += n
}

func (m *meter) sum(now time.Time) int64 {
	k := now.UnixNano() / int64(rateSlot)
	var total int64
	for i, at := range m.at {
		if at > k-int64(len(m.slots)) && at <= k {
			total += m.slots[i]
		}
	}
	return total
}

// rate is bytes per second over the window, or over the current run of
// traffic when that is shorter.
func (m *meter) rate(now time.Time) float64 {
	span := rateWindow
	if d := now.Sub(m.first); d < span {
		span = max(d, rateSlot)
	}
	return float64(m.sum(now)) / span.Seconds()
}

// download is one run of fetching towards a complete file, for its log lines.
type download struct {
	began    time.Time
	fetched0 int64 // Store.fetched when it began
	maxConns int   // most connections open at once
}

// outage is a run of failed attempts without progress, across all fetches
// of a store: the origin is failing.
type outage struct {
	since    time.Time
	attempts int
	last     error // the latest failure
}

// Retrying is an outage as Progress shows it: since when fetches fail and
// are retried, and why the latest failed.
type Retrying struct {
	Since  time.Time
	Reason string
}

func (o *outage) retrying() *Retrying {
	if o == nil {
		return nil
	}
	return &Retrying{Since: o.since, Reason: o.last.Error()}
}

// noteStartLocked is called as a fetch starts.
func (s *Store) noteStartLocked() {
	if s.dl != nil || s.present.total >= s.rem.Size {
		return
	}
	s.dl = &download{began: time.Now(), fetched0: s.fetched}
	s.log.Info("download started", "bytes", s.rem.Size-s.present.total, "size", s.rem.Size)
}

// noteConnLocked counts a body starting (+1) or ending (-1) on the
// connection key, which speaks proto ("" if unknown).
func (s *Store) noteConnLocked(key any, proto string, d int) {
	if s.open == nil {
		s.open = make(map[any]int)
	}
	if s.open[key] += d; s.open[key] <= 0 {
		delete(s.open, key)
	}
	if proto != "" {
		s.proto = proto
	}
	if s.dl != nil {
		s.dl.maxConns = max(s.dl.maxConns, len(s.open))
	}
}

// noteBytesLocked is called as bytes arrive; it ends an outage and logs a
// completed download.
func (s *Store) noteBytesLocked(n int64, now time.Time) {
	s.meter.add(n, now)
	if s.out != nil {
		s.log.Warn("origin recovered", "failed_attempts", s.out.attempts, "seconds", round2(now.Sub(s.out.since).Seconds()))
		s.out = nil
	}
	if s.dl != nil && s.present.total >= s.rem.Size {
		d, got := now.Sub(s.dl.began), s.fetched-s.dl.fetched0
		s.log.Info("download complete", "bytes", got, "seconds", round2(d.Seconds()),
			"MB/s", round2(float64(got)/1e6/max(d.Seconds(), 1e-3)), "connections", s.dl.maxConns, "protocol", s.proto)
		s.dl = nil
	}
}

// noteFailureLocked logs a failed attempt: a warning for the first of an
// outage, debug detail for the rest.
func (s *Store) noteFailureLocked(off int64, attempt int, delay time.Duration, err error) {
	if s.out == nil {
		s.out = &outage{since: time.Now()}
		s.log.Warn("origin failing; retrying", "offset", off, "err", err)
	}
	s.out.attempts++
	s.out.last = err
	s.log.Debug("download attempt failed", "offset", off, "attempt", attempt, "retry_in", delay, "err", err)
}

// noteGiveUpLocked logs that a fetch stopped retrying; the outage, as far
// as the logs go, ends with it.
func (s *Store) noteGiveUpLocked(off int64, err error) {
	attempts, secs := 1, 0.0 // this last one
	if s.out != nil {
		attempts, secs = s.out.attempts+1, round2(time.Since(s.out.since).Seconds())
	}
	s.log.Error("download failed; the next read tries again", "offset", off, "failed_attempts", attempts, "seconds", secs, "err", err)
	s.out = nil
	s.dl = nil
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
