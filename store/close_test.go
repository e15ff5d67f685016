package store

import (
	"context"
	"errors"
	"io"
	"math/rand"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fsm/internal/testorigin"

	"go.uber.org/goleak"
)

// TestCloseWakesBlockedReaders: readers waiting for bytes return ErrClosed as
// soon as Close starts; the temp file is removed and later reads fail.
func TestCloseWakesBlockedReaders(t *testing.T) {
	c := testorigin.Content{Seed: 20, Size: 2 << 20}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	s := e.newStore(t, e.source("blocked"))
	release := e.o.Block()
	defer release()
	const readers = 8
	errs := make(chan error, readers)
	for i := range readers {
		go func() {
			_, err := s.ReadAt(context.Background(), make([]byte, 1000), int64(i)*200_000)
			errs <- err
		}()
	}
	eventually(t, "all readers waiting", func() bool { return waiters(s) == readers })
	if p := s.Progress(); p.Readers != readers || p.State != StateDownloading {
		t.Fatalf("progress %+v", p)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.close(context.Background()) }()
	for range readers {
		if err := wait(t, errs, "blocked reader"); !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked reader: %v, want ErrClosed", err)
		}
	}
	if err := wait(t, closed, "Close"); err != nil {
		t.Fatal(err)
	}
	if fileExists(s.path) {
		t.Fatal("temp file left after Close")
	}
	if _, err := s.ReadAt(context.Background(), make([]byte, 10), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	if p := s.Progress(); !s.isClosed() || p.Readers != 0 {
		t.Fatalf("progress %+v", p)
	}
	if s.OpenHandle() {
		t.Fatal("OpenHandle on a closed store succeeded")
	}
	if err := s.close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestCloseShortCtxWithReaderInFlight: Close bounded by a context that ends
// while a reader is still inside ReadAt returns an error and leaves the temp
// file; a later Close finishes the job. The in-flight reader is simulated by
// holding the gate, the state of a ReadAt copying from the temp file.
func TestCloseShortCtxWithReaderInFlight(t *testing.T) {
	c := testorigin.Content{Seed: 21, Size: 600_000}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	s := e.newStore(t, e.source("inflight"))
	checkRead(t, s, c, 0, c.Size)
	if !s.gate.enter() {
		t.Fatal("gate refused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	err := s.close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a reader in flight: %v, want deadline exceeded", err)
	}
	if !fileExists(s.path) {
		t.Fatal("temp file removed under an in-flight reader")
	}
	if _, err := s.ReadAt(context.Background(), make([]byte, 10), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close began: %v", err)
	}
	if e.m.usedBytes() != c.Size {
		t.Fatalf("used %d before the close finished", e.m.usedBytes())
	}
	s.gate.leave()
	if err := s.close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if fileExists(s.path) {
		t.Fatal("temp file left after the second Close")
	}
	if err := s.close(context.Background()); err != nil {
		t.Fatalf("third Close: %v", err)
	}
	if e.m.usedBytes() != 0 {
		t.Fatalf("used %d after close", e.m.usedBytes())
	}
}

// TestHandlesAndUnstage: the store closes only when it is unstaged and the
// last handle is released, in either order.
func TestHandlesAndUnstage(t *testing.T) {
	c := testorigin.Content{Seed: 22, Size: 100_000}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	ctx := context.Background()

	t.Run("unstage first", func(t *testing.T) {
		s := e.newStore(t, e.source("a"))
		if !s.OpenHandle() || !s.OpenHandle() {
			t.Fatal("OpenHandle refused")
		}
		if err := s.Unstage(ctx); err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, c, 0, c.Size) // open handles keep reading
		if err := s.ReleaseHandle(ctx); err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, c, 10, 100)
		if !fileExists(s.path) || s.Progress().Handles != 1 {
			t.Fatalf("closed with a handle open: %+v", s.Progress())
		}
		if err := s.ReleaseHandle(ctx); err != nil {
			t.Fatal(err)
		}
		if fileExists(s.path) || !s.isClosed() {
			t.Fatal("not closed after the last handle")
		}
		if _, err := s.ReadAt(ctx, make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
			t.Fatalf("read: %v", err)
		}
	})
	t.Run("release first", func(t *testing.T) {
		s := e.newStore(t, e.source("b"))
		s.OpenHandle()
		checkRead(t, s, c, 0, 1000)
		if err := s.ReleaseHandle(ctx); err != nil {
			t.Fatal(err)
		}
		if !fileExists(s.path) || s.isClosed() {
			t.Fatal("a staged store closed when its last handle was released")
		}
		checkRead(t, s, c, 0, c.Size)
		if err := s.Unstage(ctx); err != nil {
			t.Fatal(err)
		}
		if fileExists(s.path) {
			t.Fatal("not closed at unstage with no handle open")
		}
		if err := s.Unstage(ctx); err != nil {
			t.Fatalf("second unstage: %v", err)
		}
	})
}

// TestCloseStress: 64 readers at random offsets and lengths while Close (or
// Unstage plus the last ReleaseHandle) happens at a random moment, under
// random GOMAXPROCS and origin faults. Only ErrClosed and the real io.EOF may
// be returned, every byte must match, nothing may hang or leak.
func TestCloseStress(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	iters := 8
	if testing.Short() {
		iters = 3
	}
	for iter := range iters {
		procs := 1 + rng.Intn(4)
		runtime.GOMAXPROCS(procs)
		oo := testorigin.Options{
			Content:        testorigin.Content{Seed: uint64(iter), Size: 1<<20 + rng.Int63n(3<<20)},
			BytesPerSecond: int64(8+rng.Intn(32)) << 20,
		}
		switch rng.Intn(4) {
		case 0:
			oo.CutAfter, oo.CutCount = 100_000+rng.Int63n(200_000), 1+rng.Intn(4)
		case 1:
			oo.FailCount = 1 + rng.Intn(3)
		case 2:
			oo.IgnoreRange = rng.Intn(2) == 0
		}
		closeAfter := int64(rng.Intn(400))
		viaUnstage := rng.Intn(2) == 0
		evictor := rng.Intn(2) == 0
		t.Logf("iteration %d: GOMAXPROCS %d, size %d, %d B/s, cut %d×%d, fail %d, ignore range %v, close after %d reads, unstage %v, evictor %v",
			iter, procs, oo.Content.Size, oo.BytesPerSecond, oo.CutAfter, oo.CutCount, oo.FailCount, oo.IgnoreRange, closeAfter, viaUnstage, evictor)
		stressOnce(t, rng.Int63(), oo, closeAfter, viaUnstage, evictor)
		if t.Failed() {
			return
		}
	}
}

func stressOnce(t *testing.T, seed int64, oo testorigin.Options, closeAfter int64, viaUnstage, evictor bool) {
	ignore := goleak.IgnoreCurrent()
	c := oo.Content
	o := testorigin.NewServer(oo)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	so := fastOpts()
	so.Dir, so.Client, so.Logger = t.TempDir(), &http.Client{Transport: tr}, quietLogger()
	m, err := NewManager(so)
	if err != nil {
		t.Fatal(err)
	}
	_, etag, lm := o.Version()
	s, err := m.create(testSource{Name: "stress", URL: o.URL(), Size: c.Size, ETag: etag, LastModified: lm}.split())
	if err != nil {
		t.Fatal(err)
	}
	if viaUnstage && !evictor && !s.OpenHandle() { // a handle would forbid eviction
		t.Fatal("OpenHandle refused")
	}

	var reads atomic.Int64
	closeNow := make(chan struct{})
	var closeOnce sync.Once
	if closeAfter == 0 {
		closeOnce.Do(func() { close(closeNow) })
	}
	const readers = 64
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(i)))
			buf := make([]byte, 300_000)
			for {
				off := rng.Int63n(c.Size + 10)
				n := 1 + rng.Int63n(int64(len(buf)))
				if rng.Intn(8) == 0 {
					n = 1 + rng.Int63n(100)
				}
				k, err := s.ReadAt(context.Background(), buf[:n], off)
				if errors.Is(err, ErrClosed) {
					if k != 0 {
						errs <- errors.New("ErrClosed with bytes")
					}
					return
				}
				if err := compareRead(c, off, n, buf[:k], err); err != nil {
					errs <- err
					return
				}
				if reads.Add(1) == closeAfter {
					closeOnce.Do(func() { close(closeNow) })
				}
			}
		}()
	}
	// Snapshots race with everything else.
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		for {
			select {
			case <-stopProgress:
				return
			default:
				s.Progress()
				if evictor {
					s.evict() // succeeds only between reads
				}
				runtime.Gosched()
			}
		}
	}()

	// Close at a random moment: after closeAfter reads, or on the first
	// failure so the test reports it rather than hanging.
	select {
	case <-closeNow:
	case err := <-errs:
		errs <- err
	case <-time.After(testTimeout):
		dumpAndFail(t, "reads before close")
	}
	closeErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		switch {
		case viaUnstage && evictor: // no handle: Unstage closes at once
			closeErr <- s.Unstage(ctx)
		case viaUnstage: // the last ReleaseHandle closes
			if err := s.Unstage(ctx); err != nil {
				closeErr <- err
				return
			}
			closeErr <- s.ReleaseHandle(ctx)
		default:
			closeErr <- s.close(ctx)
		}
	}()
	if err := wait(t, closeErr, "Close"); err != nil {
		t.Fatalf("close: %v", err)
	}
	waitAll(t, &wg, "readers after Close")
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if fileExists(s.path) {
		t.Error("temp file left after Close")
	}
	if _, err := s.ReadAt(context.Background(), make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	close(stopProgress)
	<-progressDone
	if m.usedBytes() != 0 {
		t.Errorf("manager counts %d bytes after the only store closed", m.usedBytes())
	}
	if err := m.Close(context.Background()); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(m.Dir()); !os.IsNotExist(err) {
		t.Errorf("run dir left: %v", err)
	}
	tr.CloseIdleConnections()
	o.Close()
	if err := goleak.Find(ignore); err != nil {
		t.Errorf("leaked goroutines: %v", err)
	}
	_ = io.EOF
}

// TestCloseDuringBackoff: Close does not wait out a fetcher's retry delay.
func TestCloseDuringBackoff(t *testing.T) {
	c := testorigin.Content{Seed: 23, Size: 100_000}
	so := fastOpts()
	so.Connections, so.MaxFetchers, so.RetryBase, so.RetryMax = 1, 1, time.Hour, time.Hour
	e := newEnv(t, testorigin.Options{Content: c, FailCount: 1 << 30}, so)
	s := e.newStore(t, e.source("backoff"))
	errs := make(chan error, 1)
	go func() {
		_, err := s.ReadAt(context.Background(), make([]byte, 10), 0)
		errs <- err
	}()
	eventually(t, "a failed request", func() bool {
		return e.o.Count(http.MethodGet) == 1 && s.Progress().Err != nil
	})
	closed := make(chan error, 1)
	go func() { closed <- s.close(context.Background()) }()
	if err := wait(t, closed, "Close during a retry delay"); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, errs, "reader"); !errors.Is(err, ErrClosed) {
		t.Fatalf("reader: %v", err)
	}
	if fileExists(s.path) {
		t.Fatal("temp file left")
	}
}

// TestManagerCloseWakesReaders: Manager.Close closes every store, waking
// blocked readers, and removes the run folder; New fails afterwards.
func TestManagerCloseWakesReaders(t *testing.T) {
	c := testorigin.Content{Seed: 24, Size: 300_000}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	a, b := e.newStore(t, e.source("a")), e.newStore(t, e.source("b"))
	checkRead(t, a, c, 0, c.Size)
	release := e.o.Block()
	defer release()
	errs := make(chan error, 1)
	go func() {
		_, err := b.ReadAt(context.Background(), make([]byte, 10), 0)
		errs <- err
	}()
	eventually(t, "reader waiting", func() bool { return waiters(b) == 1 })
	closed := make(chan error, 1)
	go func() { closed <- e.m.Close(context.Background()) }()
	if err := wait(t, closed, "Manager.Close"); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, errs, "reader"); !errors.Is(err, ErrClosed) {
		t.Fatalf("reader: %v", err)
	}
	for _, s := range []*Store{a, b} {
		if p := s.Progress(); !s.isClosed() || fileExists(s.path) {
			t.Fatalf("store %s after Manager.Close: %+v", s.src.Name, p)
		}
	}
	if fileExists(e.m.Dir()) || e.m.usedBytes() != 0 {
		t.Fatalf("run dir left (%v) or used %d", fileExists(e.m.Dir()), e.m.usedBytes())
	}
	if _, err := e.m.create(e.source("late").split()); err == nil {
		t.Fatal("New after Close succeeded")
	}
}
