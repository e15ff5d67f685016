package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fsm/internal/testorigin"
)

// transferTimeout bounds one whole-file read: generous (20 MB/s) so that a
// slow baseline is measured rather than cut, yet finite.
func (h *harness) transferTimeout() time.Duration {
	return 30*time.Second + time.Duration(float64(h.cfg.size)/20e6*float64(time.Second))
}

// timedGET times a GET of the whole file at url, verifies it and records
// throughput and first-byte time under key.
func (h *harness) timedGET(ctx context.Context, key, url string) error {
	ctx, cancel := context.WithTimeout(ctx, h.transferTimeout())
	defer cancel()
	var sum sumWriter
	c0 := sampleCPU()
	t, err := get(ctx, url, "", &sum)
	if err != nil {
		return err
	}
	busy := busySince(c0)
	if err := sum.check(h.cfg.size, h.wantCRC); err != nil {
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

func (h *harness) directGET(ctx context.Context) error {
	return h.withOrigin(h.content, 0, func(o *origin) error {
		return h.timedGET(ctx, "direct", o.fileURL())
	})
}

func (h *harness) fsmGET(ctx context.Context) error {
	return h.withOrigin(h.content, 0, func(o *origin) error {
		s, err := h.startFSM(ctx, h.cfg.fsmBin, o.fileURL(), "")
		if err != nil {
			return err
		}
		return h.listAndGET(ctx, "fsm", s)
	})
}

func (h *harness) rcloneGET(ctx context.Context) error {
	if h.cfg.rclone == "" {
		h.skip("rclone", "rclone not installed")
		return nil
	}
	return h.withOrigin(h.content, 0, func(o *origin) error {
		s, err := h.startRcloneWebDAV(ctx, o.base)
		if err != nil {
			return err
		}
		return h.listAndGET(ctx, "rclone", s)
	})
}

// listAndGET does what a WebDAV client does: list, then read (timed), and
// then reads again from the now complete cache. The warm read separates the
// cost of serving from the cost of fetching.
func (h *harness) listAndGET(ctx context.Context, key string, s *server) error {
	err := propfind(ctx, s.base)
	if err == nil {
		err = h.timedGET(ctx, key, s.fileURL())
	}
	if err == nil {
		err = h.recordCPU(key, s)
	}
	if err == nil {
		err = h.timedGET(ctx, key+".warm", s.fileURL())
	}
	return errors.Join(err, s.stop())
}

// recordCPU records the CPU time the server has used since it started,
// which is mostly the one cold transfer. On 2 cores shared with the origin
// and the client, CPU per GiB is what bounds loopback throughput, so it
// helps explain the MB/s figures.
func (h *harness) recordCPU(key string, s *server) error {
	d, err := s.cpu()
	if err != nil {
		return err
	}
	h.res.add(key+".cpu", d.Seconds())
	return nil
}

func (h *harness) skip(key, why string) {
	for _, suffix := range []string{".mbps", ".ttfb", ".cpu", ".warm.mbps", ".ms", ".reqs"} {
		h.res.skip(key+suffix, why)
	}
}
