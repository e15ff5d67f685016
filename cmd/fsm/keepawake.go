package main

import (
	"context"
	"log/slog"
	"time"

	"fsm/awake"
	"fsm/control/api"
	"fsm/vfs"
)

// activityEvery is how often serve counts the transfers for the keeper: a
// second is nothing next to the keeper's grace period, and the count is a
// walk over the staged files, which the store answers from memory.
const activityEvery = time.Second

// keeperCloseTimeout bounds the release of the sleep lock at shutdown; the
// keeper waits for a lock being taken (10 s at most) before letting it go.
const keeperCloseTimeout = 12 * time.Second

func newKeeper(log *slog.Logger, off bool) *awake.Keeper {
	return awake.New(awake.Options{Logger: log, Off: off})
}

// transfers counts what keeps the computer awake: files downloading and
// files with an open handle (an upload of it reads through the handle,
// with or without a download).
func transfers(fsys *vfs.FS) int {
	n := 0
	for _, e := range fsys.Entries() {
		if e.State == vfs.StateDownloading || e.Progress.Handles > 0 {
			n++
		}
	}
	return n
}

// followActivity reports the transfers to the keeper every activityEvery
// until ctx ends; the returned channel closes when it has returned.
func followActivity(ctx context.Context, fsys *vfs.FS, k *awake.Keeper) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(activityEvery)
		defer tick.Stop()
		for {
			k.Set(transfers(fsys))
			select {
			case <-ctx.Done():
				k.Set(0)
				return
			case <-tick.C:
			}
		}
	}()
	return done
}

// keepAwakeStatus is GET info's keep_awake.
func (s *instance) keepAwakeStatus() api.KeepAwake {
	st := s.keeper.Status()
	ka := api.KeepAwake{Active: st.Active, Reason: st.Reason}
	if st.Phase == awake.PhaseOff {
		ka.Reason = "off"
	}
	return ka
}
