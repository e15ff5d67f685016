package store

import (
	"strings"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// While an origin fails and fetches are retried, Progress says so at once,
// with the reason and since when; the first bytes after it clear it.
func TestProgressShowsRetrying(t *testing.T) {
	c := testorigin.Content{Seed: 31, Size: 1 << 20}
	so := fastOpts()
	so.Retries, so.RetryBudget = 1<<20, time.Minute
	e := newEnv(t, testorigin.Options{Content: c, FailCount: 1 << 20}, so)
	s := e.newStore(t, e.source("f"))
	if r := s.Progress().Retrying; r != nil {
		t.Fatalf("retrying before any fetch: %+v", r)
	}
	before := time.Now()
	done := make(chan error, 1)
	go func() {
		got, err := readAt(t, s, 0, c.Size)
		done <- compareRead(c, 0, c.Size, got, err)
	}()
	var r *Retrying
	eventually(t, "retrying shown", func() bool { r = s.Progress().Retrying; return r != nil })
	if !strings.Contains(r.Reason, "503") || r.Since.Before(before.Add(-time.Second)) || r.Since.After(time.Now()) {
		t.Fatalf("retrying %+v, want a 503 since the read began", r)
	}
	if st := s.Progress().State; st != StateDownloading {
		t.Fatalf("state %s while retrying, want %s", st, StateDownloading)
	}
	e.o.SetFailCount(0)
	if err := wait(t, done, "the read after the outage"); err != nil {
		t.Fatal(err)
	}
	if r := s.Progress().Retrying; r != nil {
		t.Fatalf("still retrying after the file came: %+v", r)
	}
}
