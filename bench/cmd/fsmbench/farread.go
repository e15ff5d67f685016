//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"fsm/internal/testorigin"
)

// farRead: a download from byte 0 runs against a throttled origin; once it
// has its first MiB, a 64 KiB read at 90 % of the file is timed. A server
// that queues the far read behind the download, or fetches it from the
// sequential stream, shows up as a latency of seconds instead of ms.
func (h *harness) farRead(ctx context.Context) error {
	c := testorigin.Content{Seed: 2, Size: h.cfg.size} // fresh bytes: nothing cached anywhere
	var errs []error
	errs = append(errs, h.withOrigin(c, h.cfg.farRate, func(o *origin) error {
		lat, err := farRange(ctx, o.fileURL(), c)
		if err == nil {
			h.res.add("far.direct.ms", ms(lat))
		}
		return err
	}))
	errs = append(errs, h.farReadVia(ctx, "far.fsm", c, func(o *origin) (*server, error) {
		return h.startFSM(ctx, h.cfg.fsmBin, o.fileURL(), "", c.Size)
	}))
	if h.cfg.rclone == "" {
		h.skip("far.rclone", "rclone not installed")
	} else {
		errs = append(errs, h.farReadVia(ctx, "far.rclone", c, func(o *origin) (*server, error) {
			return h.startRcloneWebDAV(ctx, o.base)
		}))
	}
	return errors.Join(errs...)
}

// farReadVia runs the far-read scenario through one server and records the
// latency and the number of origin GETs starting at or beyond 89 %.
func (h *harness) farReadVia(ctx context.Context, key string, c testorigin.Content, start func(*origin) (*server, error)) error {
	return h.withOrigin(c, h.cfg.farRate, func(o *origin) error {
		s, err := start(o)
		if err != nil {
			return err
		}
		defer s.stop()
		if err := propfind(ctx, s.base); err != nil {
			return err
		}
		stopSeq, err := startSequential(ctx, s.fileURL(), c)
		if err != nil {
			return err
		}
		lat, ferr := farRange(ctx, s.fileURL(), c)
		// Let requests the far read set off reach the origin's log before
		// counting; 300 ms is long next to the 50 ms goal.
		_ = sleepCtx(ctx, 300*time.Millisecond)
		reqs := o.countGETsFrom(c.Size * 89 / 100)
		if err := errors.Join(ferr, stopSeq()); err != nil {
			return err
		}
		h.res.add(key+".ms", ms(lat))
		h.res.add(key+".reqs", float64(reqs))
		h.log.Info("measured", "what", key, "latency", lat.Round(time.Microsecond), "origin GETs at >=89%", reqs)
		return nil
	})
}

// startSequential begins a verified GET from byte 0 and returns once it has
// received its first MiB. The returned stop cancels it and reports any error
// other than that cancellation (wrong bytes above all).
func startSequential(ctx context.Context, url string, c testorigin.Content) (stop func() error, err error) {
	seqCtx, cancel := context.WithCancel(ctx)
	firstMiB := make(chan struct{})
	var once sync.Once
	w := newCmpWriter(c, 0, func(n int64) {
		if n >= 1<<20 {
			once.Do(func() { close(firstMiB) })
		}
	})
	done := make(chan error, 1)
	go func() {
		_, err := get(seqCtx, url, "", w)
		done <- err
	}()
	stop = func() error {
		cancel()
		err := <-done
		if err == nil || (errors.Is(err, context.Canceled) && !errors.Is(err, errWrongBytes)) {
			return nil
		}
		return fmt.Errorf("sequential download: %w", err)
	}
	select {
	case <-firstMiB:
		return stop, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("ended before its first MiB")
		}
		return nil, fmt.Errorf("sequential download: %w", err)
	case <-time.After(30 * time.Second):
		_ = stop()
		return nil, errors.New("sequential download: no first MiB within 30s")
	}
}

// farRange times a verified 64 KiB range read at 90 % of the file.
func farRange(ctx context.Context, url string, c testorigin.Content) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	const n = 64 << 10
	x := c.Size * 9 / 10
	w := newCmpWriter(c, x, nil)
	t, err := get(ctx, url, fmt.Sprintf("bytes=%d-%d", x, x+n-1), w)
	if err != nil {
		return 0, fmt.Errorf("far read: %w", err)
	}
	if t.n != n {
		return 0, fmt.Errorf("far read: %w: got %d bytes, want %d", errWrongBytes, t.n, n)
	}
	return t.total, nil
}
