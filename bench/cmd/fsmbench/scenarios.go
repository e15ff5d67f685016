//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fsm/internal/testorigin"
)

// timedGET times a GET of the whole of f at url, verifies it and records
// throughput and first-byte time under key.
func (h *harness) timedGET(ctx context.Context, key, url string, f benchFile) error {
	ctx, cancel := context.WithTimeout(ctx, f.transferTimeout())
	defer cancel()
	var sum sumWriter
	c0 := sampleCPU()
	t, err := get(ctx, url, "", &sum)
	if err != nil {
		return err
	}
	busy := busySince(c0)
	if err := sum.check(f.size(), f.crc); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	h.recordTransfer(key, t, busy)
	return nil
}

func (h *harness) recordTransfer(key string, t transfer, busy float64) {
	h.res.add(key+".mbps", t.mbps())
	h.res.add(key+".ttfb", ms(t.ttfb))
	h.res.add(key+".busy", busy*100)
	h.log.Info("measured", "what", key, "MB/s", fmt.Sprintf("%.0f", t.mbps()), "ttfb", t.ttfb.Round(time.Microsecond),
		"total", t.total.Round(time.Millisecond), "machine CPU busy", fmt.Sprintf("%.0f%%", busy*100))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// withOrigin runs f against a fresh origin so request logs, connections and
// throttles never carry over between scenarios.
func (h *harness) withOrigin(c testorigin.Content, bps int64, f func(*origin) error) error {
	o, err := startOrigin(c, bps)
	if err != nil {
		return err
	}
	defer o.Close()
	return f(o)
}

// directGET reads f straight from its origin over one connection.
func (h *harness) directGET(ctx context.Context, key string, f benchFile) error {
	return h.withOrigin(f.content, f.rate, func(o *origin) error {
		return h.timedGET(ctx, key, o.fileURL(), f)
	})
}

// fsmGET reads f cold through fsm's WebDAV (and, if warm, once more).
func (h *harness) fsmGET(ctx context.Context, key string, f benchFile, warm bool) error {
	return h.withOrigin(f.content, f.rate, func(o *origin) error {
		s, err := h.startFSM(ctx, h.cfg.fsmBin, o.fileURL(), "", f.size())
		if err != nil {
			return err
		}
		return h.listAndGET(ctx, key, s, f, warm)
	})
}

// rcloneGET reads f cold through rclone serve webdav (and, if warm, again).
func (h *harness) rcloneGET(ctx context.Context, key string, f benchFile, warm bool) error {
	if h.cfg.rclone == "" {
		h.skip(key, "rclone not installed")
		return nil
	}
	return h.withOrigin(f.content, f.rate, func(o *origin) error {
		s, err := h.startRcloneWebDAV(ctx, o.base)
		if err != nil {
			return err
		}
		return h.listAndGET(ctx, key, s, f, warm)
	})
}

// listAndGET does what a WebDAV client does: list, then read (timed), and
// then, if warm, reads again from the now complete cache. The warm read
// separates the cost of serving from the cost of fetching.
func (h *harness) listAndGET(ctx context.Context, key string, s *server, f benchFile, warm bool) error {
	err := propfind(ctx, s.base)
	if err == nil {
		err = h.timedGET(ctx, key, s.fileURL(), f)
	}
	if err == nil {
		err = h.recordCPU(key, s, f.size())
	}
	if err == nil {
		err = h.recordMem(key, s)
	}
	if err == nil && warm {
		err = h.timedGET(ctx, key+".warm", s.fileURL(), f)
	}
	return errors.Join(err, s.stop())
}

// recordCPU records the CPU time the server has used since it started,
// which is mostly the one cold transfer. On 2 cores shared with the origin
// and the client, CPU per GiB is what bounds loopback throughput, so it
// helps explain the MB/s figures.
func (h *harness) recordCPU(key string, s *server, size int64) error {
	d, err := s.cpu()
	if err != nil {
		return err
	}
	h.res.add(key+".cpu", d.Seconds())
	h.res.add(key+".cpugib", d.Seconds()/(float64(size)/(1<<30)))
	return nil
}

func (h *harness) skip(key, why string) {
	for _, suffix := range []string{".mbps", ".ttfb", ".cpu", ".cpugib", ".rss", ".warm.mbps", ".ms", ".reqs"} {
		h.res.skip(key+suffix, why)
	}
}
