//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"fsm/internal/testorigin"
	"fsm/state"
)

// resume: the first half of a file is read through fsm, which is then
// stopped (SIGTERM) while its background download runs, and started again
// on the same cache dir with no SOURCE. Timed from that start until the
// whole file has been read (and verified) through the restarted fsm; the
// origin bytes that took are counted from the origin's request log, next to
// the share of the file the first run had kept.
func (h *harness) resume(ctx context.Context) error {
	c := testorigin.Content{Seed: 3, Size: h.cfg.size} // fresh bytes: nothing cached anywhere
	f := newBenchFile(c, 0)
	return h.withOrigin(c, 0, func(o *origin) error {
		cache, err := h.mkdir("resume-cache")
		if err != nil {
			return err
		}
		argv := func(sources ...string) func(addr, _ string) []string {
			return func(addr, _ string) []string {
				return append([]string{h.cfg.fsmBin, "serve", "--addr", addr, "--cache-dir", cache}, sources...)
			}
		}
		s1, err := h.launch(ctx, "fsm", argv(o.fileURL()), "", c.Size, true, fileName)
		if err != nil {
			return err
		}
		half := c.Size / 2
		if _, err := get(ctx, s1.fileURL(), fmt.Sprintf("bytes=0-%d", half-1), io.Discard); err != nil {
			return err
		}
		s1.child.stop(stopGrace)
		kept, err := keptBytes(cache, fileName)
		if err != nil {
			return err
		}

		t0 := time.Now()
		s2, err := h.launch(ctx, "fsm", argv(), "", c.Size, true, fileName)
		if err != nil {
			return err
		}
		defer s2.stop()
		var sum sumWriter
		if _, err := get(ctx, s2.fileURL(), "", &sum); err != nil {
			return err
		}
		took := time.Since(t0)
		if err := sum.check(f.size(), f.crc); err != nil {
			return fmt.Errorf("GET after restart: %w", err)
		}
		var again int64 // requests of the first run still draining do not count
		for _, r := range o.Requests() {
			if !r.Time.Before(t0) {
				again += r.BytesSent
			}
		}
		h.res.add("resume.fsm.s", took.Seconds())
		h.res.add("resume.fsm.mib", float64(again)/(1<<20))
		h.res.add("resume.fsm.kept", float64(kept)*100/float64(c.Size))
		h.log.Info("measured", "what", "resume", "took", took.Round(time.Millisecond), "origin MiB after restart", again>>20,
			"kept at restart", fmt.Sprintf("%.0f%%", float64(kept)*100/float64(c.Size)))
		return nil
	})
}

// keptBytes is how much of name the state file in cache records as held.
func keptBytes(cache, name string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(cache, state.FileName))
	if err != nil {
		return 0, fmt.Errorf("state after the first run: %w", err)
	}
	var doc struct{ Files []state.File }
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, fmt.Errorf("state after the first run: %w", err)
	}
	for _, f := range doc.Files {
		if f.Name == name {
			var n int64
			for _, r := range f.Ranges {
				n += r[1] - r[0]
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("state after the first run does not list %s", name)
}
