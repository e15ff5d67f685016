// Package fsmtest builds the pieces most tests need: a store manager in a
// temporary cache dir and a vfs tree over it, both torn down by t.Cleanup.
package fsmtest

import (
	"context"
	"testing"
	"time"

	"fsm/store"
	"fsm/vfs"
)

// Tree returns an empty vfs tree over a new store manager. so.Dir defaults
// to a new t.TempDir(); so.Logger is also the tree's logger. The manager is
// closed at cleanup, and a failure to close (reads still in flight, temp
// files left) fails the test.
func Tree(t testing.TB, so store.Options) (*vfs.FS, *store.Manager) {
	t.Helper()
	if so.Dir == "" {
		so.Dir = t.TempDir()
	}
	m, err := store.NewManager(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("manager close: %v", err)
		}
	})
	return vfs.New(vfs.Options{Manager: m, Logger: so.Logger, CloseTimeout: 5 * time.Second}), m
}

// Eventually polls cond until it holds. It is for state that other
// processes or goroutines reach without telling us (a mount appearing, a
// request arriving at the origin), never a timing assumption: the 30 s
// deadline only turns a hang into a failure.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
