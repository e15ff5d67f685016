package awake

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultGrace is how long sleep stays prevented after the last activity
// ends when Options.Grace is zero.
const DefaultGrace = 15 * time.Second

// MaxGrace bounds Options.Grace: fsm promises to let go within 30 s.
const MaxGrace = 30 * time.Second

// Why is the reason the OS shows for the lock (`systemd-inhibit --list`).
// It is fixed when the lock is taken, so it names the kind of activity, not
// a count that changes while the lock is held.
const Why = "file transfers in progress"

// Options configure a Keeper.
type Options struct {
	// Logger receives the one "unavailable" line and debug lines for each
	// hold and release; nil discards.
	Logger *slog.Logger
	// Grace is how long the lock outlives the last activity: DefaultGrace
	// when zero, at most MaxGrace.
	Grace time.Duration
	// Describe names the current activity for Status, from the count;
	// nil gives "1 transfer", "2 transfers".
	Describe func(active int) string
	// Off makes a keeper that never takes anything (the user turned the
	// feature off); it still counts, and Status says it is off.
	Off bool
}

// Keeper holds the OS's sleep prevention while there is activity.
type Keeper struct {
	log      *slog.Logger
	grace    time.Duration
	describe func(int) string
	mech     mechanism // nil when Off

	wake chan struct{} // buffered 1: the loop re-reads the counters
	stop context.CancelFunc
	done chan struct{} // closed when the loop has released and returned

	mu sync.Mutex
	// mu protects the following fields. holds and reported are written by
	// callers, phase and failure by the loop.
	holds    int    // Hold calls not yet released
	reported int    // the last count given to Set
	phase    Phase  // what the loop has actually done with the OS
	failure  string // why the last hold failed, for Status in PhaseUnavailable
}

// New starts a keeper. Close it to release whatever it holds.
func New(o Options) *Keeper {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	grace := o.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	grace = min(grace, MaxGrace)
	describe := o.Describe
	if describe == nil {
		describe = describeTransfers
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &Keeper{
		log:      log,
		grace:    grace,
		describe: describe,
		wake:     make(chan struct{}, 1),
		stop:     cancel,
		done:     make(chan struct{}),
	}
	if o.Off {
		k.phase = PhaseOff
		close(k.done)
		return k
	}
	k.mech = newMechanism()
	go k.run(ctx)
	return k
}

func describeTransfers(n int) string {
	if n == 1 {
		return "1 transfer"
	}
	return fmt.Sprintf("%d transfers", n)
}

// Hold counts one activity until the returned release is called (more
// calls of the same release do nothing).
func (k *Keeper) Hold() (release func()) {
	k.mu.Lock()
	k.holds++
	k.mu.Unlock()
	k.poke()
	var once sync.Once
	return func() {
		once.Do(func() {
			k.mu.Lock()
			k.holds--
			k.mu.Unlock()
			k.poke()
		})
	}
}

// Set reports the activity count the caller keeps itself (running
// downloads plus open reads, say); it replaces the previous Set and adds to
// the holds of Hold. Negative counts as zero.
func (k *Keeper) Set(active int) {
	k.mu.Lock()
	k.reported = max(active, 0)
	k.mu.Unlock()
	k.poke()
}

// poke wakes the loop without ever blocking the caller.
func (k *Keeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

func (k *Keeper) activeLocked() int { return k.holds + k.reported }

// Close releases whatever is held and stops the keeper; later Hold and Set
// only count. A lock being taken is waited for (its answer must not be
// lost), 10 s at most, and released. Close returns ctx's error if that is
// still under way when ctx ends; the keeper then finishes it on its own.
func (k *Keeper) Close(ctx context.Context) error {
	k.stop()
	select {
	case <-k.done: // first, alone: a finished release wins over a dead ctx
		return nil
	default:
	}
	select {
	case <-k.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("awake: releasing the sleep lock: %w", context.Cause(ctx))
	}
}
