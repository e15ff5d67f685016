package store

import (
	"math"
	"time"
)

// This file decides how many connections readahead uses, from what they
// deliver. One connection is measured first, over a window long enough that
// TCP slow start, an origin writing in small pieces or a concurrent demand
// fetch do not decide it. When one connection is fast in absolute terms
// (FastConnection), it stays at one: on such origins parallel writers into
// one file only contend for it. Otherwise one more connection is probed
// for a short window, and only when the two deliver manyGain times what one
// did are all Connections tried; their aggregate over a second window
// decides: they stay only when they deliver at least manyGain times what
// one did. So a store is never slower than one connection for long, an
// origin that limits each connection (as CDNs do) is read over several,
// and a limit shared by all connections costs the reader only a short
// probe at half its rate.

// connStage is where a store's choice of readahead connections stands.
type connStage int

const (
	connsMeasuringOne connStage = iota // one connection; its rate is being measured
	connsProbing                       // two connections: does one more add anything?
	connsTrying                        // all Connections; their aggregate is being measured
	connsOne                           // settled on one: it is fast, or more did not help
	connsMany                          // settled on all Connections: they helped
)

func (c connStage) String() string {
	switch c {
	case connsMeasuringOne:
		return "measuring one"
	case connsProbing:
		return "probing with two"
	case connsTrying:
		return "trying more"
	case connsOne:
		return "one"
	case connsMany:
		return "many"
	}
	return "unknown"
}

// Measurement windows. Each ends after windowMax, or sooner once it holds
// windowBytes: a fast connection is judged on many MiB, a slow one after a
// short time (it costs that time at the slow rate). One connection far
// below FastConnection (under 1/clearlySlow of it) is judged after
// oneWindowMin already: a wrong guess costs only a trial.
const (
	oneWarmup        = 50 * time.Millisecond
	oneWindowMin     = 50 * time.Millisecond
	oneWindowMax     = 150 * time.Millisecond
	oneWindowBytes   = 32 << 20
	clearlySlow      = 4
	trialWindowMax   = 300 * time.Millisecond
	trialWindowBytes = 64 << 20
	// The probe adds one connection for a short window first: where the
	// origin's rate is shared by every connection (a user's own downlink)
	// the reader's connection gets half of it while the probe lasts,
	// instead of a quarter for the whole trial.
	probeWindowMax   = 150 * time.Millisecond
	probeWindowBytes = 32 << 20
	probeConns       = 2
	// trialSettle bounds the wait for every tried connection to deliver
	// its first bytes (connection setup and first byte are not the
	// origin's rate); the trial window starts then at the latest.
	trialSettle = time.Second
	// manyGain is how much more than one connection the tried ones must
	// deliver to be kept: less is noise, or a shared limit.
	manyGain = 1.3
)

// connChoice is a store's choice of readahead connections and the window
// being measured for it. Guarded by Store.mu.
type connChoice struct {
	stage   connStage
	began   time.Time // when the window began; zero: not yet
	bytes   int64     // readahead bytes received in the window
	widened time.Time // when the trial began
	single  float64   // bytes/s one connection delivered

	// A settled choice is judged again (rejudge.go): settled is when it
	// was made, settledRate what it delivered then, retrial how long a
	// choice of one stands before more are tried again.
	settled     time.Time
	settledRate float64
	retrial     time.Duration
	last        time.Time // when the last bytes of a settled window came
}

// windowDone reports whether a window of the given stage holding bytes
// after elapsed is long enough to judge; fast is FastConnection.
func windowDone(stage connStage, bytes int64, elapsed time.Duration, fast float64) bool {
	switch stage {
	case connsMeasuringOne:
		slow := elapsed >= oneWindowMin && float64(bytes) < fast/clearlySlow*elapsed.Seconds()
		return bytes >= oneWindowBytes || (elapsed >= oneWindowMax && bytes > 0) || (slow && bytes > 0)
	case connsProbing:
		return bytes >= probeWindowBytes || (elapsed >= probeWindowMax && bytes > 0)
	case connsTrying:
		return bytes >= trialWindowBytes || (elapsed >= trialWindowMax && bytes > 0)
	}
	return false
}

// nextConnStage judges a finished window: rate is what it measured, single
// what one connection delivered (for a trial), fast the rate at which one
// connection is fast enough, and many the number of connections to try.
func nextConnStage(stage connStage, rate, single, fast float64, many int) connStage {
	switch stage {
	case connsMeasuringOne:
		switch {
		case rate >= fast || many <= 1:
			return connsOne
		case many > probeConns:
			return connsProbing
		}
		return connsTrying
	case connsProbing:
		if rate >= manyGain*single {
			return connsTrying
		}
		return connsOne
	case connsTrying:
		if rate >= manyGain*single {
			return connsMany
		}
		return connsOne
	}
	return stage
}

// readaheadConnsLocked is how many readahead fetches to keep running.
func (s *Store) readaheadConnsLocked() int {
	switch s.choice.stage {
	case connsProbing:
		return probeConns
	case connsTrying, connsMany:
		return s.m.opts.Connections
	}
	return 1
}

// noteReadaheadLocked counts n bytes a readahead fetch received at now
// towards the window being measured, and judges the window once done.
func (s *Store) noteReadaheadLocked(n int64, now time.Time) {
	c := &s.choice
	switch c.stage {
	case connsMeasuringOne, connsProbing, connsTrying:
	case connsOne, connsMany:
		s.rejudgeLocked(n, now)
		return
	default:
		return
	}
	if c.began.IsZero() {
		if c.stage != connsMeasuringOne && !s.allDeliveringLocked() && now.Sub(c.widened) < trialSettle {
			return
		}
		// The window starts with these bytes: it measures the rate from
		// here on, not how long the first of them took to come. One
		// connection's window starts oneWarmup later still: the first
		// bytes of a new connection come in a burst (what the origin's
		// pacing and the socket buffers let through at once) that would
		// make it look faster than it is, and more seem not to help.
		c.began = now
		if c.stage == connsMeasuringOne {
			c.began = now.Add(oneWarmup)
		}
		return
	}
	if now.Before(c.began) {
		return
	}
	c.bytes += n
	elapsed := now.Sub(c.began)
	fast := float64(s.m.opts.FastConnection)
	if !windowDone(c.stage, c.bytes, elapsed, fast) {
		return
	}
	rate := float64(c.bytes) / max(elapsed.Seconds(), 1e-6)
	next := nextConnStage(c.stage, rate, c.single, fast, s.m.opts.Connections)
	s.log.Debug("readahead connections chosen", "measured", c.stage.String(), "rate", int64(rate), "one", int64(c.single), "next", next.String())
	if c.stage == connsMeasuringOne {
		c.single = rate
	}
	tried := c.stage == connsProbing || c.stage == connsTrying
	c.stage, c.began, c.bytes = next, time.Time{}, 0
	switch {
	case next == connsProbing || next == connsTrying:
		c.widened = now
		s.scheduleLocked()
	case next == connsOne:
		c.settle(now, c.single, tried)
		if tried {
			s.narrowReadaheadLocked()
		}
	case next == connsMany:
		c.settle(now, rate, false)
	}
}

// narrowReadaheadLocked ends every readahead fetch but the one the reader
// needs next, when more connections did not help. Left to finish their
// chunks, they would go on sharing a limit they do not raise (a user's own
// downlink) with the one the reader waits on, for seconds at a slow origin.
// Each stops at the next piece it receives; what it brought stays.
func (s *Store) narrowReadaheadLocked() {
	var keep *fetch
	for _, f := range s.fetches {
		if !f.readahead || f.pos >= f.end {
			continue
		}
		if keep == nil || lagTo(f, s.cursor) < lagTo(keep, s.cursor) {
			keep = f
		}
	}
	for _, f := range s.fetches {
		if f.readahead && f != keep && f.pos < f.end {
			f.end = f.pos
		}
	}
}

// lagTo is how far f is from bringing the byte at cursor, the end of the
// latest read: none when f is on its way there (a reader caught up with
// the download waits for bytes just past f's position, so the cursor lies
// inside f's range), the distance when f starts after it, and more than
// any distance when f is wholly behind it (then the lowest goes on).
func lagTo(f *fetch, cursor int64) int64 {
	switch {
	case f.pos <= cursor && cursor < f.end:
		return 0
	case f.pos > cursor:
		return f.pos - cursor
	}
	return math.MaxInt64/2 + f.pos/2
}

// allDeliveringLocked reports whether every readahead fetch has received
// bytes of its own.
func (s *Store) allDeliveringLocked() bool {
	n := 0
	for _, f := range s.fetches {
		if f.readahead {
			if f.pos == f.from {
				return false
			}
			n++
		}
	}
	return n >= s.readaheadConnsLocked()
}

// restartWindowLocked drops the window being measured: a failed attempt
// says nothing about the rate the origin delivers.
func (s *Store) restartWindowLocked() {
	s.choice.began, s.choice.bytes = time.Time{}, 0
}
