package store

import (
	"context"
	"os"
	"runtime"
	"testing"

	"fsm/internal/testorigin"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestThousandsOfFilesHoldNoDescriptors: 1,000 staged stores hold no open
// file; a read opens its store's temp file only while it runs, an open
// handle keeps it open between reads, and releasing the handle closes it.
// Each staged store costs little memory.
func TestThousandsOfFilesHoldNoDescriptors(t *testing.T) {
	c := testorigin.Content{Seed: 91, Size: 100_000}
	so := fastOpts()
	so.Connections, so.MaxFetchers = 1, 1
	e := newEnv(t, testorigin.Options{Content: c}, so)
	const n = 1000
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	fds := openFDs(t)
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = e.newStore(t, e.source("f"))
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if got := openFDs(t); got > fds {
		t.Fatalf("%d staged stores hold %d more descriptors", n, got-fds)
	}
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes of heap per staged store", per)
	if per > 8<<10 {
		t.Errorf("%d bytes of heap per staged store, want at most 8 KiB", per)
	}
	runtime.KeepAlive(stores)

	s := stores[0]
	checkRead(t, s, c, 0, c.Size)
	eventually(t, "the download to end", func() bool { return s.fetchers() == 0 })
	if s.file.isOpen() {
		t.Fatal("temp file still open with no read, fetch or handle")
	}
	if !s.OpenHandle() {
		t.Fatal("OpenHandle refused")
	}
	if s.file.isOpen() {
		t.Fatal("OpenHandle opened the temp file before any read")
	}
	checkRead(t, s, c, 10, 1000)
	if !s.file.isOpen() {
		t.Fatal("temp file closed between reads of an open handle")
	}
	if err := s.ReleaseHandle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.file.isOpen() {
		t.Fatal("temp file still open after the last handle was released")
	}
	if got := openFDs(t); got > fds+2 { // the origin's and the client's idle connection
		t.Fatalf("%d descriptors more than before staging", got-fds)
	}
}
