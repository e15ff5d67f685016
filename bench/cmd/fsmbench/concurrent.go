//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Many readers at once: concReaders clients each read concRanges ranges of
// concRange bytes at random offsets of the cold file, as a video player
// seeking or a tool checksumming chunks in parallel would.
const (
	concReaders = 64
	concRanges  = 8
	concRange   = 256 << 10
)

// concurrent runs the random-range readers direct, through fsm and through
// rclone, each cold on a fresh origin.
func (h *harness) concurrent(ctx context.Context) error {
	f := h.big
	errs := []error{h.withOrigin(f.content, 0, func(o *origin) error {
		return h.randomReads(ctx, "conc.direct", o.fileURL(), f)
	})}
	errs = append(errs, h.withOrigin(f.content, 0, func(o *origin) error {
		s, err := h.startFSM(ctx, h.cfg.fsmBin, o.fileURL(), "", f.size())
		if err != nil {
			return err
		}
		err = propfind(ctx, s.base)
		if err == nil {
			err = h.randomReads(ctx, "conc.fsm", s.fileURL(), f)
		}
		return errors.Join(err, s.stop())
	}))
	if h.cfg.rclone == "" {
		h.res.skip("conc.rclone.mbps", "rclone not installed")
		return errors.Join(errs...)
	}
	errs = append(errs, h.withOrigin(f.content, 0, func(o *origin) error {
		s, err := h.startRcloneWebDAV(ctx, o.base)
		if err != nil {
			return err
		}
		err = propfind(ctx, s.base)
		if err == nil {
			err = h.randomReads(ctx, "conc.rclone", s.fileURL(), f)
		}
		return errors.Join(err, s.stop())
	}))
	return errors.Join(errs...)
}

// randomReads starts the readers together and records the aggregate MB/s
// (all bytes / wall time) and the latency percentiles of single ranges. The
// offsets come from a fixed seed, so direct, fsm and rclone read the same
// ranges in the same order.
func (h *harness) randomReads(ctx context.Context, key, url string, f benchFile) error {
	ctx, cancel := context.WithTimeout(ctx, f.transferTimeout())
	defer cancel()
	tr := &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: concReaders}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	lat := make([][]time.Duration, concReaders)
	errs := make([]error, concReaders)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for r := range concReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(42, uint64(r)))
			<-start
			for range concRanges {
				off := rng.Int64N(f.size() - concRange)
				d, err := rangeGET(ctx, client, url, f, off)
				if err != nil {
					errs[r] = err
					cancel()
					return
				}
				lat[r] = append(lat[r], d)
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%d random readers: %w", concReaders, err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	total := float64(concReaders * concRanges * concRange)
	h.res.add(key+".mbps", total/wall.Seconds()/1e6)
	for _, p := range []int{50, 90, 99} {
		h.res.add(fmt.Sprintf("%s.p%d", key, p), ms(all[(len(all)*p+99)/100-1]))
	}
	h.log.Info("measured", "what", key, "MB/s", fmt.Sprintf("%.0f", total/wall.Seconds()/1e6),
		"p50", all[len(all)/2].Round(time.Microsecond), "max", all[len(all)-1].Round(time.Microsecond))
	return nil
}

// rangeGET reads concRange bytes at off over client's pool, verified.
func rangeGET(ctx context.Context, client *http.Client, url string, f benchFile, off int64) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+concRange-1))
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s at %d: %w", url, off, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return 0, fmt.Errorf("GET %s at %d: status %s, want 206", url, off, resp.Status)
	}
	w := newCmpWriter(f.content, off, nil)
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return 0, fmt.Errorf("GET %s at %d: %w", url, off, err)
	}
	if n != concRange {
		return 0, fmt.Errorf("GET %s at %d: %w: %d bytes, want %d", url, off, errWrongBytes, n, concRange)
	}
	return time.Since(t0), nil
}
