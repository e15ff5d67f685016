//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"fsm/internal/testorigin"
)

// A file larger than the cache (issue 23): a synthetic 1 TiB origin file,
// generated from the offset so nothing that size exists anywhere, read
// through `fsm serve --cache-max-size` far smaller than it. fsm streams such
// a file, releasing bytes every reader has passed, so its disk use stays
// within the budget while a reader goes through any amount of it.
const (
	biggerSize   = 1 << 40
	biggerBudget = "2GiB" // fsm's --cache-max-size and rclone's --vfs-cache-max-size (rclone's G is 2^30)
	biggerRandN  = 10     // random reads across the file after the sequential one
	biggerRandSz = 64 << 10
	// biggerEvery is how often the cache dir's disk use and the server's
	// RSS are sampled during a read.
	biggerEvery = 50 * time.Millisecond
	// biggerMinRate bounds every read of the scenario (30 s plus the read
	// at this rate): far below what any of them reaches on loopback, so a
	// slow baseline is measured rather than cut, yet a stall cannot hold
	// the run for the rest of its -timeout.
	biggerMinRate = 50e6
)

// biggerSeed: bytes no other scenario serves, so a mix-up shows.
const biggerSeed = 23

// bigger runs the scenario, each part on a fresh origin: a ranged GET of
// cfg.bigRead bytes at 3/4 of the 1 TiB file straight from the origin;
// the same through fsm with the budget, followed by ten random 64 KiB
// reads across the file; as much through fsm with no budget from a file
// that fits on the disk (the baseline of the streamed rate); and the first
// read again through rclone with the same budget.
func (h *harness) bigger(ctx context.Context) error {
	c := testorigin.Content{Seed: biggerSeed, Size: biggerSize}
	n := h.cfg.bigRead
	off := c.Size / 4 * 3
	errs := []error{h.withOrigin(c, 0, func(o *origin) error {
		t, err := biggerGET(ctx, o.fileURL(), c, off, n)
		if err == nil {
			h.recordBigger("bigger.direct", t, 0)
		}
		return err
	})}
	errs = append(errs, h.biggerStreamed(ctx, c, off, n))
	errs = append(errs, h.biggerUnlimited(ctx, n))
	if h.cfg.rclone == "" {
		h.skipBiggerRclone("rclone not installed")
	} else {
		errs = append(errs, h.biggerRclone(ctx, c, off, n))
	}
	return errors.Join(errs...)
}

// biggerStreamed reads through `fsm serve --cache-max-size 2GiB` while the
// cache dir's disk use and fsm's RSS are sampled, checks that fsm says it
// streams the file, then times the random reads (still sampled: the bound
// holds throughout).
func (h *harness) biggerStreamed(ctx context.Context, c testorigin.Content, off, n int64) error {
	return h.withOrigin(c, 0, func(o *origin) error {
		s, err := h.startFSMArgs(ctx, o.fileURL(), "--cache-max-size", biggerBudget)
		if err != nil {
			return err
		}
		err = h.biggerStreamedVia(ctx, s, c, off, n)
		if errors.Is(err, errWrongBytes) {
			// Say so in fsm's rows and goals too, not only at the end.
			for _, k := range []string{"bigger.fsm.mbps", "bigger.fsm.cpugib", "bigger.fsm.diskmib", "bigger.fsm.rss", "bigger.fsm.randms"} {
				h.res.skip(k, "fsm served wrong bytes (see the harness error below)")
			}
		}
		return errors.Join(err, s.stop())
	})
}

func (h *harness) biggerStreamedVia(ctx context.Context, s *server, c testorigin.Content, off, n int64) error {
	if err := propfind(ctx, s.base); err != nil {
		return err
	}
	var (
		t       transfer
		cpu     time.Duration
		share   int64
		slowest time.Duration
	)
	disk, rss, err := sampled(s, func() error {
		var err error
		if t, cpu, err = cpuGET(ctx, s, c, off, n); err != nil {
			return err
		}
		// The API says whether fsm streams the file (its share of the
		// cache) or holds it whole: the figures are about the former.
		f, err := waitStaged(ctx, s.child, s.base, fileName)
		if err != nil {
			return err
		}
		if share = f.StreamingCache; share <= 0 {
			return fmt.Errorf("fsm does not stream the %s file through --cache-max-size %s (streaming_cache %d)",
				sizeText(c.Size), biggerBudget, share)
		}
		slowest, err = h.biggerRandom(ctx, s.fileURL(), c)
		return err
	})
	if err != nil {
		return err
	}
	h.recordBigger("bigger.fsm", t, cpu)
	h.res.add("bigger.fsm.diskmib", disk)
	h.res.add("bigger.fsm.rss", rss)
	h.res.add("bigger.fsm.randms", ms(slowest))
	h.log.Info("measured", "what", "bigger.fsm", "share", sizeText(share), "max disk MiB", fmt.Sprintf("%.0f", disk),
		"max RSS MiB", fmt.Sprintf("%.0f", rss), "slowest random 64 KiB", slowest.Round(time.Microsecond))
	return nil
}

// biggerUnlimited is the baseline of the streamed rate: fsm with no
// --cache-max-size. A 1 TiB file cannot be held whole on this disk (fsm
// would stream it through the free-space margin), so the file is twice the
// read and the read is its second half: as far from its start, in bytes,
// as the read is long, and ending at the file's end. fsm reserves the
// whole file and keeps every byte; its disk use is recorded for contrast.
func (h *harness) biggerUnlimited(ctx context.Context, n int64) error {
	c := testorigin.Content{Seed: biggerSeed, Size: 2 * n}
	return h.withOrigin(c, 0, func(o *origin) error {
		s, err := h.startFSMArgs(ctx, o.fileURL())
		if err != nil {
			return err
		}
		err = h.biggerUnlimitedVia(ctx, s, c, n)
		return errors.Join(err, s.stop())
	})
}

func (h *harness) biggerUnlimitedVia(ctx context.Context, s *server, c testorigin.Content, n int64) error {
	if err := propfind(ctx, s.base); err != nil {
		return err
	}
	var (
		t   transfer
		cpu time.Duration
	)
	disk, rss, err := sampled(s, func() error {
		var err error
		t, cpu, err = cpuGET(ctx, s, c, c.Size-n, n)
		return err
	})
	if err != nil {
		return err
	}
	f, err := waitStaged(ctx, s.child, s.base, fileName)
	if err != nil {
		return err
	}
	if f.StreamingCache != 0 {
		return fmt.Errorf("the unlimited baseline's %s file is streamed (streaming_cache %d): not enough free disk to hold it whole",
			sizeText(c.Size), f.StreamingCache)
	}
	h.recordBigger("bigger.unlimited", t, cpu)
	h.res.add("bigger.unlimited.diskmib", disk)
	h.res.add("bigger.unlimited.rss", rss)
	return nil
}

// cpuGET is biggerGET through server s, with the CPU time s spent meanwhile.
func cpuGET(ctx context.Context, s *server, c testorigin.Content, off, n int64) (transfer, time.Duration, error) {
	cpu0, err := s.cpu()
	if err != nil {
		return transfer{}, 0, err
	}
	t, err := biggerGET(ctx, s.fileURL(), c, off, n)
	if err != nil {
		return t, 0, err
	}
	cpu1, err := s.cpu()
	return t, cpu1 - cpu0, err
}

// biggerRclone reads the same range of the 1 TiB file through rclone serve
// webdav with the same cache budget. rclone cannot evict a file that is
// open, so its cache grows with the read; that growth is the figure. A read
// cut by its bound is reported as skipped with what it reached, not as a
// harness error: rclone's speed is not what this run checks.
func (h *harness) biggerRclone(ctx context.Context, c testorigin.Content, off, n int64) error {
	return h.withOrigin(c, 0, func(o *origin) error {
		s, err := h.launch(ctx, "rclone", func(addr, cache string) []string {
			argv := []string{h.cfg.rclone, "serve", "webdav", ":http:", "--addr", addr, "--vfs-cache-max-size", biggerBudget}
			return append(argv, h.rcloneArgs(o.base, cache)...)
		}, "", 0, true)
		if err != nil {
			return err
		}
		err = propfind(ctx, s.base)
		if err != nil {
			return errors.Join(err, s.stop())
		}
		var t transfer
		disk, rss, err := sampled(s, func() error {
			var err error
			t, err = biggerGET(ctx, s.fileURL(), c, off, n)
			return err
		})
		switch {
		case err == nil:
			h.recordBigger("bigger.rclone", t, 0)
			h.res.add("bigger.rclone.diskmib", disk)
			h.res.add("bigger.rclone.rss", rss)
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && !errors.Is(err, errWrongBytes):
			why := fmt.Sprintf("cut after %v, %s read, its cache at %.0f MiB", biggerTimeout(n), sizeText(t.n), disk)
			h.log.Warn("rclone baseline skipped", "why", why, "err", err)
			h.skipBiggerRclone(why)
			err = nil
		}
		return errors.Join(err, s.stop())
	})
}

func (h *harness) skipBiggerRclone(why string) {
	for _, k := range []string{"bigger.rclone.mbps", "bigger.rclone.diskmib", "bigger.rclone.rss"} {
		h.res.skip(k, why)
	}
}

// recordBigger records a sequential read's rate and, when measured, the
// server's CPU per GiB read.
func (h *harness) recordBigger(key string, t transfer, cpu time.Duration) {
	h.res.add(key+".mbps", t.mbps())
	if cpu > 0 {
		h.res.add(key+".cpugib", cpu.Seconds()/(float64(t.n)/(1<<30)))
	}
	h.log.Info("measured", "what", key, "MB/s", fmt.Sprintf("%.0f", t.mbps()), "bytes", t.n,
		"total", t.total.Round(time.Millisecond))
}

// startFSMArgs runs `fsm serve` on fileURL with extra flags and waits until
// the file is staged.
func (h *harness) startFSMArgs(ctx context.Context, fileURL string, flags ...string) (*server, error) {
	return h.launch(ctx, "fsm", func(addr, cache string) []string {
		argv := append([]string{h.cfg.fsmBin, "serve", "--addr", addr, "--cache-dir", cache}, flags...)
		return append(argv, fileURL)
	}, "", 0, true, fileName)
}

func biggerTimeout(n int64) time.Duration {
	return 30*time.Second + time.Duration(float64(n)/biggerMinRate*float64(time.Second))
}

// biggerGET times a ranged GET of [off, off+n) at url, every byte checked
// against c as it arrives.
func biggerGET(ctx context.Context, url string, c testorigin.Content, off, n int64) (transfer, error) {
	ctx, cancel := context.WithTimeout(ctx, biggerTimeout(n))
	defer cancel()
	w := newWrongTally(c, off)
	t, err := get(ctx, url, fmt.Sprintf("bytes=%d-%d", off, off+n-1), w)
	if err == nil {
		err = w.err()
	}
	if err != nil {
		return t, fmt.Errorf("GET %s at %d: %w", url, off, err)
	}
	if t.n != n {
		return t, fmt.Errorf("GET %s at %d: %w: %d bytes, want %d", url, off, errWrongBytes, t.n, n)
	}
	return t, nil
}

// wrongTally checks bytes against the content as they arrive, as cmpWriter
// does, but reads on past a difference: wrong bytes in a read of GiBs are
// then described by how many there are, where the first is and whether
// they are zeros (holes in a temp file), not by the first one alone.
type wrongTally struct {
	want        testorigin.Content
	start, off  int64 // the read's first byte; the next byte's offset
	buf         []byte
	wrong, zero int64 // bytes that differ; those of them that are 0
	runs        int64 // runs of consecutive wrong bytes
	first       int64 // offset of the first wrong byte, -1 while none
	inRun       bool  // the last byte compared was wrong
}

func newWrongTally(c testorigin.Content, off int64) *wrongTally {
	return &wrongTally{want: c, start: off, off: off, buf: make([]byte, 256<<10), first: -1}
}

func (w *wrongTally) Write(p []byte) (int, error) {
	err := eachPiece(w.want, w.off, w.buf, p, func(at int64, want, got []byte, same bool) error {
		if same {
			w.inRun = false
		} else {
			w.tally(at, want, got)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	w.off += int64(len(p))
	return len(p), nil
}

// tally counts the wrong bytes of got, received at off, which should be want.
func (w *wrongTally) tally(off int64, want, got []byte) {
	for i := range got {
		if got[i] == want[i] {
			w.inRun = false
			continue
		}
		if w.first < 0 {
			w.first = off + int64(i)
		}
		if !w.inRun {
			w.runs++
			w.inRun = true
		}
		w.wrong++
		if got[i] == 0 {
			w.zero++
		}
	}
}

// err describes the wrong bytes seen, nil if there were none.
func (w *wrongTally) err() error {
	if w.wrong == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d of %d bytes (%d runs; %d of those bytes are 0), the first at offset %d (%s into the read)",
		errWrongBytes, w.wrong, w.off-w.start, w.runs, w.zero, w.first, sizeText(w.first-w.start))
}

// biggerRandom times biggerRandN verified 64 KiB GETs at offsets spread over
// the whole file (a fixed seed, so every run reads the same ones) and
// returns the slowest.
func (h *harness) biggerRandom(ctx context.Context, url string, c testorigin.Content) (time.Duration, error) {
	rng := rand.New(rand.NewPCG(biggerSeed, 64))
	lat := make([]time.Duration, 0, biggerRandN) // in order: the first ones meet the readahead the sequential read left
	for range biggerRandN {
		at := rng.Int64N(c.Size - biggerRandSz)
		t, err := biggerGET(ctx, url, c, at, biggerRandSz)
		if err != nil {
			return 0, fmt.Errorf("random read: %w", err)
		}
		lat = append(lat, t.total.Round(time.Microsecond))
	}
	h.log.Info("random 64 KiB reads", "url", url, "latencies", lat)
	return slices.Max(lat), nil
}

// sampled runs f while a sampler records, every biggerEvery, the disk use
// of s's cache dir and s's RSS, and returns the largest of each (MiB).
func sampled(s *server, f func() error) (diskMiB, rssMiB float64, err error) {
	quit := make(chan struct{})
	done := make(chan struct{})
	var disk int64  // written by the sampling goroutine until done closes
	var rss float64 // likewise
	go func() {
		defer close(done)
		tick := time.NewTicker(biggerEvery)
		defer tick.Stop()
		sample := func() {
			disk = max(disk, diskUse(s.cache))
			if v, err := s.memStat("VmRSS"); err == nil {
				rss = max(rss, v)
			}
		}
		for {
			sample()
			select {
			case <-quit:
				sample() // the state f left behind
				return
			case <-tick.C:
			}
		}
	}()
	err = f()
	close(quit)
	<-done
	// The process's peak resident set (VmHWM) counts too: a peak between
	// two samples is still a peak.
	if hwm, herr := s.memStat("VmHWM"); herr == nil {
		rss = max(rss, hwm)
	}
	return float64(disk) / (1 << 20), rss, err
}

// diskUse is the space the files under dir take on disk (st_blocks × 512,
// so holes punched out of a temp file do not count while its apparent
// size stays the file's). Files that vanish mid-walk count as nothing.
func diskUse(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total
}

// biggerNote is the report's footnote on the scenario.
func (h *harness) biggerNote() string {
	n := h.cfg.bigRead
	return fmt.Sprintf("⁸ A 1 TiB origin file generated from the offset (nothing that size exists), served through\n"+
		"`fsm serve --cache-max-size %s`: a ranged GET of %s from 3/4 into it, every byte checked, while the cache\n"+
		"dir's disk use (st_blocks of its files) and the server's RSS are sampled every %v (max shown); then %d\n"+
		"random 64 KiB ranged GETs across the file (fixed seed; the slowest shown). Baselines: the same range straight\n"+
		"from the origin; fsm with no budget reading the second half of a %s file (one that fits on the disk, so\n"+
		"fsm holds it whole); `rclone serve webdav --vfs-cache-mode full --vfs-cache-max-size %s` on the 1 TiB file\n"+
		"(rclone cannot evict an open file: its cache grows with the read). First round only.\n",
		biggerBudget, sizeText(n), biggerEvery, biggerRandN, sizeText(2*n), biggerBudget)
}
