// Package watchdog cancels a context when nothing has happened for a while:
// a silent origin or a stalled read then becomes an error with a cause of
// its own instead of a wait without end.
package watchdog

import (
	"context"
	"time"
)

// Dog watches one operation. Kick, Pause and Resume may be called from any
// goroutine; the timer is the only state and has its own lock.
type Dog struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	limit  time.Duration
	cause  error
}

// New returns parent's child that is cancelled with cause once limit passes
// without a Kick (or Resume), and the Dog that watches it. Call Stop when the
// operation is done.
func New(parent context.Context, limit time.Duration, cause error) (context.Context, *Dog) {
	ctx, cancel := context.WithCancelCause(parent)
	d := &Dog{ctx: ctx, cancel: cancel, limit: limit, cause: cause}
	d.timer = time.AfterFunc(limit, func() { cancel(cause) })
	return ctx, d
}

// Kick records progress: the limit starts again from now.
func (d *Dog) Kick() { d.timer.Reset(d.limit) }

// Pause stops the clock while the wait is someone else's (a slow client is
// not a stalled origin); Resume starts it again with the whole limit.
func (d *Dog) Pause() { d.timer.Stop() }

// Resume is Kick after a Pause.
func (d *Dog) Resume() { d.timer.Reset(d.limit) }

// Fired reports whether the limit passed: the context ended for the Dog's
// cause, not for its parent's or Stop's.
func (d *Dog) Fired() bool { return context.Cause(d.ctx) == d.cause }

// Stop ends the watch and releases the context. Fired still tells what
// happened before.
func (d *Dog) Stop() {
	d.timer.Stop()
	d.cancel(nil)
}
