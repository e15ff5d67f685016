package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// errSignal is the cause of the context a first signal ends.
var errSignal = errors.New("signal received")

// echoWindow is how soon after the first signal the same signal again is
// the same request: a terminal's Ctrl-C reaches the process and its group
// (`fsm serve | tee`, `timeout -s INT`), so one keypress can arrive twice.
const echoWindow = 300 * time.Millisecond

// signals turns the first SIGINT, SIGTERM or SIGHUP into an orderly
// shutdown (ctx ends) and a second one into an immediate exit through the
// abort function. SIGHUP (terminal closed, ssh dropped) is only watched when
// it is not ignored, so that `nohup fsm serve` keeps running.
type signals struct {
	ctx   context.Context
	ch    chan os.Signal
	quit  chan struct{}
	abort atomic.Pointer[func(os.Signal)]
}

func watchSignals(log *slog.Logger) *signals {
	set := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		set = append(set, syscall.SIGHUP)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &signals{ctx: ctx, ch: make(chan os.Signal, 4), quit: make(chan struct{})}
	signal.Notify(s.ch, set...)
	go func() {
		var first received
		select {
		case sig := <-s.ch:
			first = received{sig, time.Now()}
			log.Info("signal received; shutting down (a second signal exits at once)", "signal", sig.String())
			cancel(errSignal)
		case <-s.quit:
			return
		}
		for {
			select {
			case sig := <-s.ch:
				if first.echoedBy(received{sig, time.Now()}) {
					log.Debug("same signal again at once: taken as the first one's echo", "signal", sig.String())
					continue
				}
				if abort := s.abort.Load(); abort != nil {
					(*abort)(sig)
				}
				exitOnSignal(sig)
			case <-s.quit:
				return
			}
		}
	}()
	return s
}

// received is one signal and when it came.
type received struct {
	sig os.Signal
	at  time.Time
}

// echoedBy reports whether later is the same delivery as r seen again
// (see echoWindow), not a second request.
func (r received) echoedBy(later received) bool {
	return later.sig == r.sig && later.at.Sub(r.at) < echoWindow
}

// onAbort sets what a second signal does before the process exits.
func (s *signals) onAbort(f func(os.Signal)) { s.abort.Store(&f) }

// stop ends the watch; a signal after it has Go's default effect.
func (s *signals) stop() {
	signal.Stop(s.ch)
	close(s.quit)
}

// exitOnSignal exits with the shell's status for death by sig (128+n).
func exitOnSignal(sig os.Signal) {
	if n, ok := sig.(syscall.Signal); ok {
		os.Exit(128 + int(n))
	}
	os.Exit(1)
}
