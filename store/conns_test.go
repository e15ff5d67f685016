package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// Readahead uses one connection while it is fast, and all Connections once
// one connection proves slow (a per-connection limit, as CDNs impose).
func TestReadaheadWidensOnlyForSlowConnections(t *testing.T) {
	tests := []struct {
		name      string
		rate      int64 // origin bytes/s per connection; 0 = unlimited
		fast      int64 // Options.FastConnection
		wantConns int
	}{
		{"fast origin keeps one", 0, 1 << 20, 1},
		{"slow origin widens", 8 << 20, 200e6, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testorigin.Content{Seed: 41, Size: 6 << 20}
			so := fastOpts()
			so.Connections = 4
			so.ChunkSize = 1 << 20
			so.FastConnection = tc.fast
			e := newEnv(t, testorigin.Options{Content: c, BytesPerSecond: tc.rate}, so)
			s := e.newStore(t, e.source("f"))
			checkRead(t, s, c, 0, c.Size)
			s.mu.Lock()
			got := s.conns
			s.mu.Unlock()
			if got != tc.wantConns {
				t.Fatalf("readahead connections %d, want %d; requests:\n%s", got, tc.wantConns, logString(gets(e.o)))
			}
		})
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
