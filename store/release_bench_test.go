//go:build linux

package store

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// BenchmarkBiggerThanTheCache: a synthetic 1 TiB origin file (generated from
// the offset, in a child process), read sequentially for
// FSM_BENCH_BIGFILE_READ bytes (1 GiB; the figure is 8 GiB) from
// three quarters into it through a 2 GiB budget (FSM_BENCH_BIGFILE_BUDGET),
// against the same read with the file not streamed (no budget); then ten
// random 64 KiB reads across the file through the budget. Every byte is
// checked against the generator. Goals: rate ≥ 0.9× the unlimited one, disk
// use ≤ the budget throughout, RSS ≤ 64 MiB, each random read ≤ 50 ms.
func BenchmarkBiggerThanTheCache(b *testing.B) {
	read := envInt("FSM_BENCH_BIGFILE_READ", 1<<30)
	budget := envInt("FSM_BENCH_BIGFILE_BUDGET", 2<<30)
	c := testorigin.Content{Seed: 2304, Size: 1 << 40}
	off := c.Size / 4 * 3
	var unlimited, streamed time.Duration
	var disk, rss int64
	var slowest time.Duration
	b.ResetTimer()
	for range b.N {
		e := newProcEnv(b, testorigin.Options{Content: c}, Options{FreeMargin: -1})
		s := e.store(b)
		s.big = nil // not yet used: the same file, kept as one that fits would be
		d, _, _ := readMeasured(b, s, c, off, read)
		unlimited += d
		s.close(context.Background())

		e = newProcEnv(b, testorigin.Options{Content: c}, Options{MaxSize: budget})
		s = e.store(b)
		if s.big == nil {
			b.Fatal("a 1 TiB file is not streamed through a budget")
		}
		d, du, rs := readMeasured(b, s, c, off, read)
		streamed += d
		disk, rss = max(disk, du), max(rss, rs)
		rng := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, 64<<10)
		for range 10 {
			at := rng.Int64N(c.Size - int64(len(buf)))
			t0 := time.Now()
			n, err := s.ReadAt(context.Background(), buf, at)
			slowest = max(slowest, time.Since(t0))
			if err != nil || !bytes.Equal(buf[:n], c.Bytes(at, int64(len(buf)))) {
				b.Fatalf("random read at %d: %d bytes, %v", at, n, err)
			}
		}
		s.close(context.Background())
	}
	b.StopTimer()
	total := read * int64(b.N)
	b.ReportMetric(mbps(total, unlimited), "unlimited-MB/s")
	b.ReportMetric(mbps(total, streamed), "streamed-MB/s")
	b.ReportMetric(unlimited.Seconds()/streamed.Seconds(), "x-unlimited")
	b.ReportMetric(float64(disk)/mib, "max-disk-MiB")
	b.ReportMetric(float64(rss)/mib, "max-RSS-MiB")
	b.ReportMetric(float64(slowest.Microseconds())/1000, "slowest-random-ms")
	b.ReportMetric(float64(read)/mib, "read-MiB")
}

// readMeasured reads [off, off+n) of s in 1 MiB reads, every byte checked,
// and returns the time it took and the largest disk use of the temp file
// (st_blocks) and RSS of this process seen meanwhile, sampled every 10 ms.
func readMeasured(b *testing.B, s *Store, c testorigin.Content, off, n int64) (time.Duration, int64, int64) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var disk, rss int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			disk, rss = max(disk, diskUse(b, s)), max(rss, vmRSS())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	buf, want := make([]byte, mib), make([]byte, mib)
	t0 := time.Now()
	for pos := off; pos < off+n; pos += mib {
		k, err := s.ReadAt(context.Background(), buf, pos)
		c.ReadAt(want, pos)
		if err != nil || !bytes.Equal(buf[:k], want) {
			b.Fatalf("read at %d: %d bytes, %v", pos, k, err)
		}
	}
	d := time.Since(t0)
	close(stop)
	wg.Wait()
	return d, disk, rss
}

// vmRSS is this process's resident set in bytes, 0 if it cannot tell.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
