package store

import "time"

// A choice of connections made from the first windows of a download is
// judged again while the download goes on: the first window can be wrong
// (a burst the origin's socket buffers held, a congested moment), and an
// origin's rate changes. Once settled, the rate is measured over long
// windows. On one connection, a rate clearly below the one the choice was
// made on, or a choice of one that has stood for retrial, leads to a new
// trial of more; a connection fast in absolute terms (FastConnection) is
// never given company. On many, a rate clearly below what they delivered
// leads back to measuring one, and from there to a new choice.

const (
	// A settled window ends after rejudgeWindowMax, or sooner once it
	// holds rejudgeWindowBytes.
	rejudgeWindowMax   = time.Second
	rejudgeWindowBytes = 256 << 20
	rejudgeGap         = rejudgeWindowMax / 2
	// firstRetrial is how long a choice of one stands before more are
	// tried again; it doubles after each trial that ends on one, up to
	// maxRetrial, so a limit all connections share costs a short probe
	// at half its rate only now and then.
	firstRetrial = 10 * time.Second
	maxRetrial   = 80 * time.Second
)

// settle records a choice made at now that delivered rate; failedTrial
// says more were tried and did not help.
func (c *connChoice) settle(now time.Time, rate float64, failedTrial bool) {
	c.settled, c.settledRate = now, rate
	switch {
	case !failedTrial || c.retrial == 0:
		c.retrial = firstRetrial
	default:
		c.retrial = min(2*c.retrial, maxRetrial)
	}
}

// rejudge decides what follows a settled window that measured rate:
// settledRate is what the choice delivered when made, fast FastConnection,
// due whether the choice of one has stood for its retrial time.
func rejudge(stage connStage, rate, settledRate, fast float64, due bool) connStage {
	dropped := rate*manyGain < settledRate
	switch stage {
	case connsOne:
		if rate >= fast || !(dropped || due) {
			return connsOne
		}
		return connsMeasuringOne
	case connsMany:
		if dropped {
			return connsMeasuringOne
		}
	}
	return stage
}

// rejudgeLocked counts n readahead bytes at now towards the settled
// window, and judges the choice again once it is done.
func (s *Store) rejudgeLocked(n int64, now time.Time) {
	c := &s.choice
	gap := now.Sub(c.last) > rejudgeGap
	c.last = now
	if c.began.IsZero() || gap {
		// A pause (nobody reading, the file complete up to a hole) is
		// no rate of the origin's: the window starts again.
		c.began, c.bytes = now, 0
		return
	}
	c.bytes += n
	elapsed := now.Sub(c.began)
	if c.bytes < rejudgeWindowBytes && elapsed < rejudgeWindowMax {
		return
	}
	rate := float64(c.bytes) / max(elapsed.Seconds(), 1e-6)
	c.began, c.bytes = time.Time{}, 0
	fast := float64(s.m.opts.FastConnection)
	next := rejudge(c.stage, rate, c.settledRate, fast, now.Sub(c.settled) >= c.retrial)
	if next == c.stage {
		return
	}
	s.log.Debug("readahead connections judged again", "was", c.stage.String(), "rate", int64(rate), "then", int64(c.settledRate))
	// A new choice, from one connection measured afresh: its window
	// starts with the next bytes, and any others stop at their next piece.
	c.stage = connsMeasuringOne
	s.narrowReadaheadLocked()
}
