package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"fsm/internal/testorigin"
)

// TestSweepLeftovers: NewManager removes run folders of dead runs (lock file
// not held, or no lock file) but not the folder of a live manager sharing the
// cache dir, nor anything that is not a run folder.
func TestSweepLeftovers(t *testing.T) {
	dir := t.TempDir()
	live, err := NewManager(Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close(context.Background())
	liveFile, err := live.createTemp()
	if err != nil {
		t.Fatal(err)
	}
	liveFile.Close()

	// A crashed run: its lock file exists but nobody holds the lock.
	dead := filepath.Join(dir, "run-dead1")
	must(t, os.MkdirAll(dead, 0o700))
	must(t, os.WriteFile(filepath.Join(dead, "lock"), nil, 0o600))
	must(t, os.WriteFile(filepath.Join(dead, "x.part"), []byte("old"), 0o600))
	// A run that died before taking its lock.
	nolock := filepath.Join(dir, "run-dead2")
	must(t, os.MkdirAll(filepath.Join(nolock, "sub"), 0o700))
	// Not ours.
	other := filepath.Join(dir, "other")
	must(t, os.MkdirAll(other, 0o700))
	stray := filepath.Join(dir, "run-file") // a file, not a folder
	must(t, os.WriteFile(stray, nil, 0o600))

	m, err := NewManager(Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dead, nolock} {
		if fileExists(p) {
			t.Errorf("leftover %s not removed", p)
		}
	}
	for _, p := range []string{live.Dir(), liveFile.Name(), other, stray, m.Dir()} {
		if !fileExists(p) {
			t.Errorf("%s removed", p)
		}
	}
	if m.Dir() == live.Dir() || !strings.HasPrefix(filepath.Base(m.Dir()), "run-") {
		t.Errorf("run dir %s (live one %s)", m.Dir(), live.Dir())
	}
	must(t, m.Close(context.Background()))
	if fileExists(m.Dir()) || !fileExists(live.Dir()) {
		t.Fatal("Close removed the wrong run dir")
	}
	must(t, live.Close(context.Background()))
	if fileExists(live.Dir()) {
		t.Fatal("run dir left after Close")
	}
	if err := live.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := live.create(testSource{Name: "late", Size: 1}.split()); err == nil {
		t.Fatal("New on a closed manager succeeded")
	}
}

// TestConcurrentStart: managers starting at the same time in one cache dir
// must not sweep each other's fresh run folders.
func TestConcurrentStart(t *testing.T) {
	dir := t.TempDir()
	for round := range 20 {
		const n = 6
		var wg sync.WaitGroup
		ms := make([]*Manager, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ms[i], errs[i] = NewManager(Options{Dir: dir, Logger: quietLogger()})
			}()
		}
		wg.Wait()
		var problems []string
		for i, m := range ms {
			switch {
			case errs[i] != nil:
				problems = append(problems, errs[i].Error())
			case !fileExists(filepath.Join(m.Dir(), "lock")):
				problems = append(problems, "run dir of a live manager swept: "+m.Dir())
			}
		}
		for _, m := range ms {
			if m != nil {
				m.Close(context.Background())
			}
		}
		if len(problems) > 0 {
			t.Fatalf("round %d: %s", round, strings.Join(problems, "; "))
		}
	}
}

// TestManagerCloseRetry: a Manager.Close that ran out of time (a reader in
// flight) leaves the run folder for a retry; the retry must then close the
// remaining stores and remove the folder.
func TestManagerCloseRetry(t *testing.T) {
	c := testorigin.Content{Seed: 30, Size: 100_000}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	s := e.newStore(t, e.source("busy"))
	checkRead(t, s, c, 0, c.Size)
	s.gate.enter() // a reader in flight
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.m.Close(ctx); err == nil {
		t.Fatal("Close with a reader in flight and an expired ctx succeeded")
	}
	if !fileExists(s.path) || !fileExists(e.m.Dir()) {
		t.Fatal("temp file or run dir removed under a reader")
	}
	s.gate.leave()
	if err := e.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fileExists(s.path) || fileExists(e.m.Dir()) {
		t.Fatalf("second Manager.Close left the temp file (%v) or run dir (%v)", fileExists(s.path), fileExists(e.m.Dir()))
	}
}

// TestEviction: over the budget, idle stores are evicted least recently
// used first; a store with an open handle is never evicted; an evicted store
// downloads again on the next read and serves exact bytes.
func TestEviction(t *testing.T) {
	const mib = 1 << 20
	c := testorigin.Content{Seed: 31, Size: mib}
	so := fastOpts()
	so.MaxSize = 2*mib + mib/2
	e := newEnv(t, testorigin.Options{Content: c}, so)
	var st []*Store
	for i := range 5 {
		st = append(st, e.newStore(t, e.source(fmt.Sprintf("f%d", i))))
	}
	present := func(i int) int64 { return st[i].Progress().Present }

	// f0 and f1 complete; f0 holds a handle so it is never a candidate.
	if !st[0].OpenHandle() {
		t.Fatal("OpenHandle refused")
	}
	checkRead(t, st[0], c, 0, c.Size)
	checkRead(t, st[1], c, 0, c.Size)
	// f2 pushes the total to 3 MiB: f1 (idle, least recent) goes, not f0.
	checkRead(t, st[2], c, 0, c.Size)
	eventually(t, "eviction of f1", func() bool { return present(1) == 0 })
	if present(0) != mib || present(2) != mib {
		t.Fatalf("present f0 %d f2 %d", present(0), present(2))
	}
	if p := st[1].Progress(); p.State != StateIdle {
		t.Fatalf("evicted store: %+v", p)
	}
	eventually(t, "used under budget", func() bool { return e.m.usedBytes() <= so.MaxSize })

	// f3 then f4: LRU among idle ones is f2, then f3.
	checkRead(t, st[3], c, 0, c.Size)
	eventually(t, "eviction of f2", func() bool { return present(2) == 0 })
	if present(0) != mib || present(3) != mib {
		t.Fatalf("after f3: present f0 %d f3 %d", present(0), present(3))
	}
	checkRead(t, st[4], c, 0, c.Size)
	eventually(t, "eviction of f3", func() bool { return present(3) == 0 })
	if present(0) != mib || present(4) != mib {
		t.Fatalf("after f4: present f0 %d f4 %d", present(0), present(4))
	}

	// The evicted f1 downloads again, exactly, with new requests.
	before := e.o.Count(http.MethodGet)
	checkRead(t, st[1], c, 0, c.Size)
	if e.o.Count(http.MethodGet) == before {
		t.Fatal("evicted store served a read without downloading")
	}
	checkRead(t, st[1], c, 12345, 100_000)
	// Its temp file was really emptied, not just forgotten: the sparse file
	// holds no more than the budget in all.
	eventually(t, "used under budget", func() bool { return e.m.usedBytes() <= so.MaxSize })
	if present(0) != mib {
		t.Fatal("store with an open handle evicted")
	}
	// Releasing the handle makes f0 a candidate (it is the LRU one now).
	must(t, st[0].ReleaseHandle(context.Background()))
	checkRead(t, st[2], c, 0, c.Size)
	eventually(t, "eviction of f0", func() bool { return present(0) == 0 })
	checkRead(t, st[0], c, 500_000, 1000)
}

// TestEvictRacesReads: evictions racing with readers never hand out wrong
// bytes or errors, and never pull bytes from under a reader; Close racing
// with an eviction still removes the file.
func TestEvictRacesReads(t *testing.T) {
	c := testorigin.Content{Seed: 32, Size: 1<<20 + 3}
	e := newEnv(t, testorigin.Options{Content: c, BytesPerSecond: 64 << 20}, fastOpts())
	s := e.newStore(t, e.source("racy"))
	stop := make(chan struct{})
	evicted := make(chan int)
	go func() {
		k := 0
		for {
			select {
			case <-stop:
				evicted <- k
				return
			default:
			}
			if s.evict() > 0 {
				k++
			}
			runtime.Gosched()
		}
	}()
	errs := make(chan error, 100)
	for round := range 25 {
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 3 {
					off := int64((round*7+i*7919+j*104729)*13) % c.Size
					n := int64(1 + (round+i*31+j*17)%150_000)
					p := make([]byte, n)
					k, err := s.ReadAt(context.Background(), p, off)
					if err := compareRead(c, off, n, p[:k], err); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		waitAll(t, &wg, "readers")
	}
	checkRead(t, s, c, 0, c.Size)
	if u, p := e.m.usedBytes(), s.Progress().Present; u != p {
		t.Errorf("manager used %d, store present %d", u, p)
	}
	must(t, s.close(context.Background())) // the evictor may be mid-eviction
	close(stop)
	k := wait(t, evicted, "evictor")
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d evictions", k)
	if fileExists(s.path) || e.m.usedBytes() != 0 {
		t.Fatalf("after Close: file %v, used %d", fileExists(s.path), e.m.usedBytes())
	}
}

// TestEvictRefuses: a store with an open handle, a reader in flight, or
// nothing present is not evicted; the budget only matters to the Manager.
func TestEvictRefuses(t *testing.T) {
	c := testorigin.Content{Seed: 33, Size: 200_000}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	s := e.newStore(t, e.source("r"))
	if s.evict() != 0 {
		t.Fatal("evicted an empty store")
	}
	checkRead(t, s, c, 0, c.Size)
	s.OpenHandle()
	if s.evict() != 0 {
		t.Fatal("evicted a store with an open handle")
	}
	must(t, s.ReleaseHandle(context.Background()))
	s.gate.enter()
	if s.evict() != 0 {
		t.Fatal("evicted a store with a reader in flight")
	}
	s.gate.leave()
	if n := s.evict(); n != c.Size || e.m.usedBytes() != 0 {
		t.Fatalf("evict freed %d, used %d", n, e.m.usedBytes())
	}
	if p := s.Progress(); p.Present != 0 || p.State != StateIdle || s.fetchers() != 0 {
		t.Fatalf("after evict: %+v", p)
	}
	// The temp file keeps its size (sparse) and holds no stale bytes that a
	// read could see: the next read downloads again.
	if st, err := os.Stat(s.path); err != nil || st.Size() != c.Size {
		t.Fatalf("temp file after evict: %v %v", st, err)
	}
	before := e.o.Count(http.MethodGet)
	checkRead(t, s, c, 0, c.Size)
	if e.o.Count(http.MethodGet) == before {
		t.Fatal("read after evict did not download")
	}
	must(t, s.close(context.Background()))
	if s.evict() != 0 {
		t.Fatal("evicted a closed store")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ = errors.New
