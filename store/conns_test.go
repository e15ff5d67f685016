package store

import (
	"testing"

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
