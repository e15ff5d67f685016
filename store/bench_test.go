package store

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// Benchmarks measure the store against a direct download from the same
// loopback origin in the same run. They never fail on a missed goal; they
// report the figures:
//
//	go test -bench . -benchtime 1x -run '^$' ./store/
//
// FSM_BENCH_BIG=1 makes the cold sequential read use 1 GiB instead of 256 MiB.

const mib = 1 << 20

type benchEnv struct {
	o      *testorigin.Origin
	m      *Manager
	direct *http.Client
	c      testorigin.Content
}

func newBenchEnv(b *testing.B, oo testorigin.Options, so Options) *benchEnv {
	b.Helper()
	o := testorigin.New(b, oo)
	m, direct := benchManager(b, so)
	return &benchEnv{o: o, m: m, direct: direct, c: oo.Content}
}

// benchManager is a manager for benchmarks in a temp dir, with a client
// that keeps enough idle connections for parallel fetches, and a separate
// client for the direct download it is compared with.
func benchManager(b *testing.B, so Options) (*Manager, *http.Client) {
	b.Helper()
	str := originTransport()
	dtr := http.DefaultTransport.(*http.Transport).Clone()
	b.Cleanup(str.CloseIdleConnections)
	b.Cleanup(dtr.CloseIdleConnections)
	so.Dir, so.Client, so.Logger = b.TempDir(), &http.Client{Transport: str}, quietLogger()
	m, err := NewManager(so)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(context.Background()) })
	return m, &http.Client{Transport: dtr}
}

func (e *benchEnv) store(b *testing.B) *Store {
	_, etag, lm := e.o.Version()
	s, err := e.m.create(testSource{Name: "bench", URL: e.o.URL(), Size: e.c.Size, ETag: etag, LastModified: lm}.split())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// directGet downloads [off, off+n) (n<0: all) in one request to io.Discard.
func (e *benchEnv) directGet(b *testing.B, off, n int64) int64 {
	req, _ := http.NewRequest(http.MethodGet, e.o.URL(), nil)
	if off > 0 || n >= 0 {
		end := ""
		if n >= 0 {
			end = strconv.FormatInt(off+n-1, 10)
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%s", off, end))
	}
	resp, err := e.direct.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	k, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// readAll reads the whole store sequentially in bufSize reads, checking a
// sample of each buffer against the content.
func readAll(b *testing.B, s *Store, c testorigin.Content, bufSize int) {
	buf := make([]byte, bufSize)
	for off := int64(0); off < c.Size; off += int64(bufSize) {
		n, err := s.ReadAt(context.Background(), buf, off)
		if err != nil && err != io.EOF {
			b.Fatal(err)
		}
		if n == 0 {
			b.Fatalf("no bytes at %d", off)
		}
		// Spot-check the first and last 64 bytes of each read.
		for _, o := range []int64{0, int64(max(n-64, 0))} {
			want := c.Bytes(off+o, 64)
			if string(buf[o:o+int64(len(want))]) != string(want) {
				b.Fatalf("wrong bytes at %d", off+o)
			}
		}
	}
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

// BenchmarkColdSequential: a cold sequential read of a large file through
// the store vs io.Copy of one direct GET, from an unthrottled loopback
// origin. Goal: store ≥ 0.8× direct.
func BenchmarkColdSequential(b *testing.B) {
	size := int64(256 * mib)
	if os.Getenv("FSM_BENCH_BIG") != "" {
		size = 1024 * mib
	}
	e := newBenchEnv(b, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: size}}, Options{})
	sequentialVsDirect(b, e, size)
	b.ReportMetric(float64(size)/mib, "file-MiB")
}

// sequentialVsDirect times, b.N times each, one direct GET of the whole file
// and a cold sequential read through a new store, and reports both rates and
// their ratio.
func sequentialVsDirect(b *testing.B, e *benchEnv, size int64) {
	var direct, store time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if k := e.directGet(b, 0, -1); k != size {
			b.Fatalf("direct got %d", k)
		}
		direct += time.Since(t0)

		s := e.store(b)
		t0 = time.Now()
		readAll(b, s, e.c, 1*mib)
		store += time.Since(t0)
		s.close(context.Background())
	}
	b.StopTimer()
	total := size * int64(b.N)
	b.ReportMetric(mbps(total, direct), "direct-MB/s")
	b.ReportMetric(mbps(total, store), "store-MB/s")
	b.ReportMetric(direct.Seconds()/store.Seconds(), "x-direct")
}

// BenchmarkFarRead: a 64 KiB read at 90% of a 1 GiB file while a 20 MB/s
// per-connection download runs at the start. Reports the origin requests the
// read caused (goal ≤ 2) and its latency, against a direct Range GET of the
// same bytes.
func BenchmarkFarRead(b *testing.B) {
	const size = 1024 * mib
	e := newBenchEnv(b, testorigin.Options{Content: testorigin.Content{Seed: 2, Size: size}, BytesPerSecond: 20e6}, Options{})
	off := int64(size) * 9 / 10
	var direct, store time.Duration
	var reqs int
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		e.directGet(b, off, 64<<10)
		direct += time.Since(t0)

		s := e.store(b)
		buf := make([]byte, 64<<10)
		if _, err := s.ReadAt(context.Background(), buf, 0); err != nil { // the sequential download starts
			b.Fatal(err)
		}
		before := e.o.Count(http.MethodGet)
		t0 = time.Now()
		n, err := s.ReadAt(context.Background(), buf, off)
		store += time.Since(t0)
		if err != nil || string(buf[:n]) != string(e.c.Bytes(off, 64<<10)) {
			b.Fatalf("far read: %d %v", n, err)
		}
		reqs += e.o.Count(http.MethodGet) - before
		s.close(context.Background())
	}
	b.StopTimer()
	b.ReportMetric(float64(reqs)/float64(b.N), "origin-requests")
	b.ReportMetric(float64(store.Microseconds())/1000/float64(b.N), "store-ms")
	b.ReportMetric(float64(direct.Microseconds())/1000/float64(b.N), "direct-ms")
	b.ReportMetric(direct.Seconds()/store.Seconds(), "x-direct")
}

// BenchmarkThrottledOrigin: the origin limits each connection to 20 MB/s; a
// sequential read of 128 MiB through the store (parallel range requests) vs
// one direct download. Goal: store ≥ 2.5× direct.
func BenchmarkThrottledOrigin(b *testing.B) {
	const size = 128 * mib
	e := newBenchEnv(b, testorigin.Options{Content: testorigin.Content{Seed: 3, Size: size}, BytesPerSecond: 20e6}, Options{})
	sequentialVsDirect(b, e, size)
}

// BenchmarkMemory: streaming 1 GiB through the store; reports the peak Go
// heap (sampled) and the peak RSS of the process (VmHWM, reset before the
// run where the kernel allows), with a direct download as baseline. Goal:
// ≤ 64 MiB.
func BenchmarkMemory(b *testing.B) {
	const size = 1024 * mib
	e := newBenchEnv(b, testorigin.Options{Content: testorigin.Content{Seed: 4, Size: size}}, Options{})
	measure := func(f func()) (heap, rss float64) {
		runtime.GC()
		resetHWM := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		f()
		close(stop)
		wg.Wait()
		rss = -1
		if resetHWM {
			rss = vmHWM()
		}
		return float64(peak.Load()) / mib, rss
	}
	var dh, dr, sh, sr float64
	b.ResetTimer()
	for range b.N {
		h, r := measure(func() { e.directGet(b, 0, -1) })
		dh, dr = max(dh, h), max(dr, r)
		s := e.store(b)
		h, r = measure(func() { readAll(b, s, e.c, 1*mib) })
		sh, sr = max(sh, h), max(sr, r)
		s.close(context.Background())
	}
	b.StopTimer()
	b.ReportMetric(sh, "store-peak-heap-MiB")
	b.ReportMetric(sr, "store-peak-RSS-MiB")
	b.ReportMetric(dh, "direct-peak-heap-MiB")
	b.ReportMetric(dr, "direct-peak-RSS-MiB")
}

// vmHWM returns the process's peak resident set size in MiB, or -1.
func vmHWM() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

// BenchmarkRandomReads: 16 readers each doing 4 random 64 KiB reads at once
// on a 1 GiB file whose origin limits each connection to 20 MB/s (a player
// seeking, an archive's directory being read). Reports read latency and the
// origin requests used, against the latency of one direct Range GET.
func BenchmarkRandomReads(b *testing.B) {
	const size = 1024 * mib
	e := newBenchEnv(b, testorigin.Options{Content: testorigin.Content{Seed: 5, Size: size}, BytesPerSecond: 20e6}, Options{})
	var lat []time.Duration
	var mu sync.Mutex
	var direct time.Duration
	reqs := 0
	b.ResetTimer()
	for iter := range b.N {
		t0 := time.Now()
		e.directGet(b, size/3, 64<<10)
		direct += time.Since(t0)
		s := e.store(b)
		before := e.o.Count(http.MethodGet)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 64<<10)
				x := uint64(iter*1000+i)*0x9E3779B97F4A7C15 + 1
				for range 4 {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
					off := int64(x % uint64(size-len(buf)))
					t0 := time.Now()
					n, err := s.ReadAt(context.Background(), buf, off)
					d := time.Since(t0)
					if err != nil || string(buf[:n]) != string(e.c.Bytes(off, int64(len(buf)))) {
						b.Errorf("read at %d: %d %v", off, n, err)
						return
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		reqs += e.o.Count(http.MethodGet) - before
		s.close(context.Background())
	}
	b.StopTimer()
	slicesSort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*9/10]), "p90-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(ms(direct)/float64(b.N), "direct-ms")
	b.ReportMetric(float64(reqs)/float64(b.N), "origin-requests")
}

func slicesSort(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// BenchmarkColdCPU: a cold sequential read (1 MiB ReadAt calls) of a file
// from an unthrottled origin in a child process, against one direct GET to
// io.Discard in the same run; reports both rates and this process's CPU
// seconds (user+sys) per GiB for each. FSM_BENCH_MIB sets the size (1024).
func BenchmarkColdCPU(b *testing.B) {
	size := envInt("FSM_BENCH_MIB", 1024) * mib
	coldVsDirect(b, testorigin.Options{Content: testorigin.Content{Seed: 6, Size: size}})
}

// BenchmarkConnectionChoice: the readahead connections the store settles
// on, and what they deliver against one direct GET, on a fast origin, one
// that limits each connection to 20 MB/s, and ones that cap each range
// answer at 1 MiB (fast, and limited per connection). The origin runs in a
// child process.
func BenchmarkConnectionChoice(b *testing.B) {
	fastSize := envInt("FSM_BENCH_MIB", 1024) * mib
	cases := []struct {
		name string
		oo   testorigin.Options
	}{
		{"fast", testorigin.Options{Content: testorigin.Content{Seed: 7, Size: fastSize}}},
		{"20MBps-per-conn", testorigin.Options{Content: testorigin.Content{Seed: 8, Size: 128 * mib}, BytesPerSecond: 20e6}},
		{"capped-1MiB", testorigin.Options{Content: testorigin.Content{Seed: 9, Size: fastSize / 4}, MaxRangeBytes: mib}},
		{"capped-1MiB-20MBps", testorigin.Options{Content: testorigin.Content{Seed: 10, Size: 128 * mib}, MaxRangeBytes: mib, BytesPerSecond: 20e6}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) { coldVsDirect(b, tc.oo) })
	}
}

// coldVsDirect times, b.N times each, one direct GET of the whole file and
// a cold sequential read through a new store, and reports rates, CPU per
// GiB and the connections the store settled on.
func coldVsDirect(b *testing.B, oo testorigin.Options) {
	size := oo.Content.Size
	e := newProcEnv(b, oo, Options{})
	var dw, dc, sw, sc time.Duration
	conns, tried := 0, 0
	b.ResetTimer()
	// FSM_BENCH_NO_DIRECT=1 leaves the direct GETs out, for profiles of
	// the store alone (the direct figures are then 0).
	direct := os.Getenv("FSM_BENCH_NO_DIRECT") == ""
	for range b.N {
		if direct {
			w, c := measured(func() { e.directGet(b) })
			dw, dc = dw+w, dc+c
		}
		s := e.store(b)
		w, c := measured(func() { readAll(b, s, e.c, 1*mib) })
		sw, sc = sw+w, sc+c
		s.mu.Lock()
		conns = max(conns, s.readaheadConnsLocked())
		if !s.choice.widened.IsZero() {
			tried++
		}
		s.mu.Unlock()
		s.close(context.Background())
	}
	b.StopTimer()
	total := size * int64(b.N)
	b.ReportMetric(mbps(total, dw), "direct-MB/s")
	b.ReportMetric(mbps(total, sw), "store-MB/s")
	b.ReportMetric(dw.Seconds()/sw.Seconds(), "x-direct")
	b.ReportMetric(cpuPerGiB(dc, total), "direct-CPU-s/GiB")
	b.ReportMetric(cpuPerGiB(sc, total), "store-CPU-s/GiB")
	b.ReportMetric(float64(conns), "conns")
	b.ReportMetric(float64(tried)/float64(b.N), "tried-more")
}
