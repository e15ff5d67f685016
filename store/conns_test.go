package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// The choice of readahead connections follows what was measured: one
// connection when it is fast, all Connections when they deliver more, and
// back to one when they do not (a limit shared by all connections).
func TestReadaheadConnectionsFollowWhatTheyDeliver(t *testing.T) {
	tests := []struct {
		name      string
		size      int64
		oo        testorigin.Options
		fast      int64 // Options.FastConnection
		wantStage connStage
		wantTried bool
	}{
		// The file is longer than one connection's measurement window
		// after its warm-up, however much of it a fast loopback delivers
		// during the warm-up (at 1.5 GB/s that is 75 MiB).
		{"fast origin keeps one", 6 * oneWindowBytes, testorigin.Options{}, 1 << 20, connsOne, false},
		// "per-connection limit: many" is TestConnectionChoiceOnASyntheticClock:
		// under load, the real clock made it measure the machine, not the origin.
		{"shared limit: back to one", 16 << 20, testorigin.Options{SharedBytesPerSecond: 16 << 20}, 200e6, connsOne, true},
	}
	// The choice is made from real-time windows, which a busy machine
	// (a descheduled reader, a stalled loopback) can fool once; the choice
	// being wrong costs connections, not bytes. So each case gets three
	// downloads and must end as wanted in one of them: a rule that cannot
	// make the choice fails all three.
	const attempts = 3
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var failures []string
			for attempt := range attempts {
				c := testorigin.Content{Seed: 41 + uint64(attempt), Size: tc.size}
				tc.oo.Content = c
				so := fastOpts()
				so.Connections = 4
				// Long claims: one connection spends its window on one
				// response, not on the gaps between requests (which more
				// connections would rightly hide).
				so.ChunkSize = 8 << 20
				so.FastConnection = tc.fast
				e := newEnv(t, tc.oo, so)
				s := e.newStore(t, e.source("f"))
				for off := int64(0); off < c.Size; off += 256 << 10 {
					checkRead(t, s, c, off, 256<<10)
				}
				s.mu.Lock()
				got, tried := s.choice.stage, !s.choice.widened.IsZero()
				s.mu.Unlock()
				if got == tc.wantStage && tried == tc.wantTried {
					return
				}
				failures = append(failures, fmt.Sprintf("download %d: connections %s (tried more: %v); requests:\n%s", attempt+1, got, tried, logString(gets(e.o))))
			}
			t.Fatalf("want %s (tried more: %v) in one of %d downloads:\n%s", tc.wantStage, tc.wantTried, attempts, strings.Join(failures, "\n"))
		})
	}
}

// The same choice on a synthetic clock, fed to noteReadaheadLocked as the
// fetchers would feed it: the decision depends only on the rates, never on
// how busy the machine running the test is.
func TestConnectionChoiceOnASyntheticClock(t *testing.T) {
	const step = time.Millisecond
	tests := []struct {
		name      string
		perConn   float64 // bytes/s each connection can carry
		shared    float64 // bytes/s all connections share; 0: no such limit
		wantStage connStage
		wantTried bool
	}{
		{"fast origin keeps one", 2.4e9, 0, connsOne, false},
		{"per-connection limit: many", 8 << 20, 0, connsMany, true},
		{"shared limit: back to one", 1e12, 16 << 20, connsOne, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// No fetches and a closed phase: widening schedules nothing,
			// so only the bytes below reach the measurement.
			s := &Store{
				m:     &Manager{opts: Options{Connections: 4, FastConnection: 200e6}},
				log:   quietLogger(),
				phase: phaseClosed,
			}
			now := time.Unix(1e9, 0)
			s.mu.Lock()
			defer s.mu.Unlock()
			for i := 0; i < 100000 && (s.choice.stage != connsOne && s.choice.stage != connsMany); i++ {
				conns := s.readaheadConnsLocked()
				rate := tc.perConn
				if tc.shared > 0 {
					rate = min(rate, tc.shared/float64(conns))
				}
				now = now.Add(step)
				for range conns {
					s.noteReadaheadLocked(int64(rate*step.Seconds()), now)
				}
			}
			got, tried := s.choice.stage, !s.choice.widened.IsZero()
			if got != tc.wantStage || tried != tc.wantTried {
				t.Fatalf("connections %s (tried more: %v), want %s (%v)", got, tried, tc.wantStage, tc.wantTried)
			}
		})
	}
}

func TestWindowDone(t *testing.T) {
	tests := []struct {
		stage   connStage
		bytes   int64
		elapsed time.Duration
		want    bool
	}{
		{connsMeasuringOne, 1 << 20, 10 * time.Millisecond, false},
		{connsMeasuringOne, oneWindowBytes, 10 * time.Millisecond, true}, // fast: enough bytes
		{connsMeasuringOne, 4 << 20, oneWindowMin, false},                // 84 MB/s: not clearly slow
		{connsMeasuringOne, 4 << 20, oneWindowMax, true},                 // slow: long enough
		{connsMeasuringOne, 1 << 20, oneWindowMin, true},                 // 21 MB/s: clearly slow
		{connsMeasuringOne, 1 << 20, oneWindowMin / 2, false},            // too soon to say
		{connsMeasuringOne, 0, time.Hour, false},                         // nothing yet says nothing
		{connsProbing, 1 << 20, 10 * time.Millisecond, false},
		{connsProbing, probeWindowBytes, 10 * time.Millisecond, true},
		{connsProbing, 1 << 20, probeWindowMax, true},
		{connsTrying, oneWindowBytes, 10 * time.Millisecond, false},
		{connsTrying, trialWindowBytes, 10 * time.Millisecond, true},
		{connsTrying, 1 << 20, trialWindowMax, true},
		{connsOne, trialWindowBytes, time.Hour, false}, // settled: no window
		{connsMany, trialWindowBytes, time.Hour, false},
	}
	for _, tc := range tests {
		if got := windowDone(tc.stage, tc.bytes, tc.elapsed, 200e6); got != tc.want {
			t.Errorf("windowDone(%s, %d, %v) = %v, want %v", tc.stage, tc.bytes, tc.elapsed, got, tc.want)
		}
	}
}

func TestNextConnStage(t *testing.T) {
	const fast = 200e6
	tests := []struct {
		name         string
		stage        connStage
		rate, single float64
		many         int
		want         connStage
	}{
		{"one fast connection stays one", connsMeasuringOne, 2.4e9, 0, 4, connsOne},
		{"just fast enough", connsMeasuringOne, fast, 0, 4, connsOne},
		{"one slow connection: probe with one more", connsMeasuringOne, 20e6, 0, 4, connsProbing},
		{"two allowed: try them without a probe", connsMeasuringOne, 20e6, 0, 2, connsTrying},
		{"the probe doubled the rate: try all", connsProbing, 40e6, 20e6, 4, connsTrying},
		{"the probe added nothing: back to one", connsProbing, 21e6, 20e6, 4, connsOne},
		{"slow, but only one allowed", connsMeasuringOne, 20e6, 0, 1, connsOne},
		{"four limited connections: keep them", connsTrying, 80e6, 20e6, 4, connsMany},
		{"more helped by 1.3x: keep them", connsTrying, 26e6, 20e6, 4, connsMany},
		{"more helped less than 1.3x: back to one", connsTrying, 25e6, 20e6, 4, connsOne},
		{"shared limit: back to one", connsTrying, 20e6, 20e6, 4, connsOne},
		{"more were slower: back to one", connsTrying, 150e6, 190e6, 4, connsOne},
		{"settled stays", connsMany, 1, 1e9, 4, connsMany},
	}
	for _, tc := range tests {
		if got := nextConnStage(tc.stage, tc.rate, tc.single, fast, tc.many); got != tc.want {
			t.Errorf("%s: nextConnStage = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// A sequential reader in small steps (FUSE sends 128 KiB reads) must be
// served by readahead chunks, not by one short request per read.
func TestSmallSequentialReadsUseReadahead(t *testing.T) {
	c := testorigin.Content{Seed: 42, Size: 16 << 20}
	so := fastOpts()
	so.ChunkSize = 4 << 20
	so.DemandChunk = 128 << 10
	// The default: wider than the 512 KiB of reads in flight below, as it is
	// wider than what the kernel or a browser keeps in flight.
	so.NearWindow = 1 << 20
	// One connection counts as fast: this is about the size of requests,
	// not their number in parallel (parallel claims shrink near the end).
	so.FastConnection = 1 << 20
	e := newEnv(t, testorigin.Options{Content: c, BytesPerSecond: 64 << 20}, so)
	s := e.newStore(t, e.source("f"))
	// Like the kernel's readahead: four consecutive reads in flight at once.
	const step, depth = 128 << 10, 4
	for off := int64(0); off < c.Size; off += step * depth {
		var wg sync.WaitGroup
		for i := range int64(depth) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := make([]byte, step)
				n, err := s.ReadAt(context.Background(), p, off+i*step)
				if err := compareRead(c, off+i*step, step, p[:n], err); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	// One short request for each of the first reads in flight, then 4 MiB
	// chunks; a read that finds its bytes far inside a chunk splits it.
	if n, max := len(gets(e.o)), depth+int(c.Size/so.ChunkSize)+4; n > max {
		t.Fatalf("%d origin requests for a sequential read, want at most %d:\n%s", n, max, logString(gets(e.o)))
	}
}

func TestFetchReachesSoon(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name       string
		from, pos  int64
		took       time.Duration
		m, near    int64
		wantWaited bool
	}{
		{"within the near window", 0, 0, 0, 100, 1 << 20, true},
		{"rate unknown yet", 0, 0, time.Second, 10 << 20, 1 << 20, false},
		{"fast fetcher, 8 MiB ahead: 40 ms", 0, 100 << 20, time.Second / 2, 108 << 20, 1 << 20, true},
		{"slow fetcher, 8 MiB ahead: 400 ms", 0, 20 << 20, time.Second, 28 << 20, 1 << 20, false},
		{"stalled fetcher", 0, 5 << 20, time.Hour, 7 << 20, 1 << 20, false},
	}
	for _, tc := range tests {
		f := &fetch{from: tc.from, pos: tc.pos, began: now.Add(-tc.took)}
		if got := f.reachesSoon(tc.m, tc.near, now); got != tc.wantWaited {
			t.Errorf("%s: reachesSoon = %v, want %v", tc.name, got, tc.wantWaited)
		}
	}
}

// When more connections did not help, every readahead fetch but the one
// the reader needs next stops at its next piece; demand fetches and fetches
// that are done already are left as they are.
func TestNarrowReadahead(t *testing.T) {
	mk := func(pos, end int64, readahead bool) *fetch { return &fetch{pos: pos, end: end, readahead: readahead} }
	tests := []struct {
		name    string
		cursor  int64
		fetches []*fetch
		keep    []bool // end left alone, per fetch
	}{
		{"nearest after the cursor stays", 100,
			[]*fetch{mk(300, 400, true), mk(120, 200, true), mk(500, 600, true)},
			[]bool{false, true, false}},
		{"the reader waits inside a fetch's range: it stays, not the one ahead", 100,
			[]*fetch{mk(300, 400, true), mk(90, 200, true)},
			[]bool{false, true}},
		{"demand fetches are not readahead", 100,
			[]*fetch{mk(110, 120, false), mk(300, 400, true), mk(200, 300, true)},
			[]bool{true, false, true}},
		{"all behind the cursor: the lowest stays", 1000,
			[]*fetch{mk(300, 400, true), mk(100, 200, true)},
			[]bool{false, true}},
		{"one fetch: nothing to cut", 0,
			[]*fetch{mk(0, 100, true)},
			[]bool{true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ends := make([]int64, len(tc.fetches))
			for i, f := range tc.fetches {
				ends[i] = f.end
			}
			s := &Store{cursor: tc.cursor, fetches: tc.fetches}
			s.narrowReadaheadLocked()
			for i, f := range tc.fetches {
				if kept := f.end == ends[i]; kept != tc.keep[i] {
					t.Errorf("fetch %d [%d, %d): end %d, kept %v, want kept %v", i, f.pos, ends[i], f.end, kept, tc.keep[i])
				}
				if f.end != ends[i] && f.end != f.pos {
					t.Errorf("fetch %d cut to %d, want its position %d", i, f.end, f.pos)
				}
			}
		})
	}
}
