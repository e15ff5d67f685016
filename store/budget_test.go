package store

import (
	"context"
	"testing"

	"fsm/internal/testorigin"
)

// TestBudgetEnforcedOnceIdle: two files read while both have open handles
// push the cache over --cache-max-size; eviction is refused (both busy).
// Releasing the handles must trigger the eviction that was refused, though
// nothing grows any more.
func TestBudgetEnforcedOnceIdle(t *testing.T) {
	const mib = 1 << 20
	c := testorigin.Content{Seed: 41, Size: mib}
	so := fastOpts()
	so.MaxSize = mib + mib/2
	e := newEnv(t, testorigin.Options{Content: c}, so)
	a := e.newStore(t, e.source("a"))
	b := e.newStore(t, e.source("b"))
	for _, s := range []*Store{a, b} {
		if !s.OpenHandle() {
			t.Fatal("OpenHandle refused")
		}
	}
	checkRead(t, a, c, 0, c.Size)
	checkRead(t, b, c, 0, c.Size)
	eventually(t, "both complete", func() bool {
		return a.Progress().State == StateComplete && b.Progress().State == StateComplete
	})
	must(t, a.ReleaseHandle(context.Background()))
	must(t, b.ReleaseHandle(context.Background()))
	eventually(t, "eviction once both files are idle", func() bool { return e.m.usedBytes() <= so.MaxSize })
}

// TestCloseIdleWithExpiredContext: Close with an already-expired ctx on a
// store with no reader in flight must succeed (a select on both "idle" and
// "ctx done" would pick at random and leave the temp file).
func TestCloseIdleWithExpiredContext(t *testing.T) {
	c := testorigin.Content{Seed: 42, Size: 1000}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fails := 0
	for range 50 {
		s := e.newStore(t, e.source("x"))
		if err := s.close(ctx); err != nil {
			fails++
			must(t, s.close(context.Background()))
		}
	}
	if fails > 0 {
		t.Fatalf("%d of 50 Close calls on idle stores failed because ctx was done", fails)
	}
}
