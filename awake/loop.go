package awake

import (
	"context"
	"time"
)

// mechanism is one OS's way to prevent sleep.
type mechanism interface {
	// hold prevents sleep until release is called. It gives up when ctx
	// ends. An error means nothing is held.
	hold(ctx context.Context, why string) (release func() error, err error)
}

// holdTimeout bounds one attempt to take the lock: a bus that never
// answers must not keep the loop from noticing Close for long.
const holdTimeout = 10 * time.Second

// run is the keeper's one goroutine: it alone calls the mechanism, so
// holds and releases never overlap and callers never wait for the OS.
func (k *Keeper) run(ctx context.Context) {
	defer close(k.done)
	var release func() error // non-nil while something is held
	grace := time.NewTimer(k.grace)
	grace.Stop()
	var graceC <-chan time.Time // non-nil while the grace period runs
	// failed is set when a hold failed for the current stretch of
	// activity: it is not retried until activity drops to none, so a
	// missing bus costs one attempt per stretch, not one per Set.
	failed := false
	said := false // the one info line about a failure was written

	letGo := func() {
		if release == nil {
			return
		}
		if err := release(); err != nil {
			k.log.Warn("cannot release the sleep lock", "err", err)
		} else {
			k.log.Debug("sleep allowed again")
		}
		release = nil
	}
	defer func() {
		letGo()
		k.setPhase(PhaseIdle, "")
	}()

	for {
		k.mu.Lock()
		n := k.activeLocked()
		k.mu.Unlock()
		switch {
		case n > 0 && release != nil:
			if graceC != nil {
				grace.Stop()
				graceC = nil
			}
			k.setPhase(PhaseHolding, "")
		case n > 0 && !failed:
			// Not cancelled by Close: an Inhibit answer that arrives after
			// its call gave up can leave its descriptor, and so the lock,
			// open in fsm for good (godbus loses it while the connection
			// closes). Close waits for the answer instead, holdTimeout at
			// most, and then releases the lock it brought.
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), holdTimeout)
			rel, err := k.mech.hold(hctx, Why)
			cancel()
			if ctx.Err() != nil {
				if rel != nil {
					release = rel
				}
				return
			}
			if err != nil {
				failed = true
				if !said {
					said = true
					k.log.Info("cannot keep the computer awake during transfers; carrying on without", "err", err)
				} else {
					k.log.Debug("sleep lock still unavailable", "err", err)
				}
				k.setPhase(PhaseUnavailable, err.Error())
				break
			}
			release = rel
			k.log.Debug("keeping the computer awake", "why", Why)
			k.setPhase(PhaseHolding, "")
		case n == 0 && release != nil && graceC == nil:
			grace.Reset(k.grace)
			graceC = grace.C
			k.setPhase(PhaseLingering, "")
		case n == 0 && release == nil:
			failed = false
			k.setPhase(PhaseIdle, "")
		}

		select {
		case <-ctx.Done():
			return
		case <-k.wake:
		case <-graceC:
			graceC = nil
			k.mu.Lock()
			n := k.activeLocked()
			k.mu.Unlock()
			if n == 0 {
				letGo()
			}
		}
	}
}

func (k *Keeper) setPhase(p Phase, failure string) {
	k.mu.Lock()
	k.phase = p
	k.failure = failure
	k.mu.Unlock()
}
