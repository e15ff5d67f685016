package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

func TestReadEdgeCases(t *testing.T) {
	c := testorigin.Content{Seed: 3, Size: 1<<20 + 13}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	s := e.newStore(t, e.source("edge"))
	ctx := context.Background()
	if _, err := s.ReadAt(ctx, make([]byte, 10), -1); err == nil {
		t.Fatal("negative offset: no error")
	}
	if n, err := s.ReadAt(ctx, make([]byte, 10), c.Size); n != 0 || err != io.EOF {
		t.Fatalf("read at size: %d %v, want 0 EOF", n, err)
	}
	if n, err := s.ReadAt(ctx, make([]byte, 10), c.Size+100); n != 0 || err != io.EOF {
		t.Fatalf("read past size: %d %v, want 0 EOF", n, err)
	}
	checkRead(t, s, c, c.Size-5, 100) // short read with io.EOF at the real end
	checkRead(t, s, c, 0, 1)
	checkRead(t, s, c, 0, c.Size)
	checkRead(t, s, c, 0, c.Size+1)
	checkRead(t, s, c, 12345, 0)

	// A zero-size file.
	z := e.newStore(t, testSource{Name: "empty", URL: e.o.URL(), Size: 0})
	if n, err := z.ReadAt(ctx, make([]byte, 10), 0); n != 0 || err != io.EOF {
		t.Fatalf("empty file: %d %v", n, err)
	}
	if _, err := e.m.create(testSource{Name: "neg", URL: e.o.URL(), Size: -1}.split()); err == nil {
		t.Fatal("New with unknown size: no error")
	}
}

// TestAdopt: a complete store serves reads without the origin.
func TestAdopt(t *testing.T) {
	c := testorigin.Content{Seed: 4, Size: 300_001}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	f, err := e.m.createTemp()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(c.Bytes(0, c.Size)); err != nil {
		t.Fatal(err)
	}
	src, rem := e.source("adopted").split()
	s, err := e.m.adopt(src, rem, f)
	if err != nil {
		t.Fatal(err)
	}
	checkRead(t, s, c, 0, c.Size)
	checkRead(t, s, c, 1000, 5000)
	if p := s.Progress(); p.State != StateComplete || p.Present != c.Size {
		t.Fatalf("progress %+v", p)
	}
	if e.m.usedBytes() != c.Size {
		t.Fatalf("used %d", e.m.usedBytes())
	}
	if n := e.o.Count(""); n != 0 {
		t.Fatalf("%d origin requests for an adopted file", n)
	}
	// A wrong size is refused and the temp file removed.
	g, _ := e.m.createTemp()
	g.Write([]byte("short"))
	src, rem = e.source("bad").split()
	if _, err := e.m.adopt(src, rem, g); err == nil {
		t.Fatal("adopt of a short file succeeded")
	}
	if fileExists(g.Name()) {
		t.Fatal("refused temp file left behind")
	}
}

// TestBackgroundFill: one small read starts a download of the whole file,
// each byte fetched exactly once.
func TestBackgroundFill(t *testing.T) {
	c := testorigin.Content{Seed: 5, Size: 3<<20 + 77}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	s := e.newStore(t, e.source("fill"))
	if p := s.Progress(); p.State != StateIdle || e.o.Count("") != 0 {
		t.Fatalf("before any read: %+v, %d requests", p, e.o.Count(""))
	}
	checkRead(t, s, c, 0, 1)
	eventually(t, "complete", func() bool { return s.Progress().State == StateComplete })
	p := s.Progress()
	if p.Present != c.Size || s.fetchedBytes() != c.Size || e.m.usedBytes() != c.Size {
		t.Fatalf("progress %+v fetched %d used %d", p, s.fetchedBytes(), e.m.usedBytes())
	}
	for _, r := range gets(e.o) {
		if r.Status != http.StatusPartialContent || r.IfRange == "" {
			t.Fatalf("unexpected request: %s", logString(gets(e.o)))
		}
	}
	if sent := waitSent(t, e.o, c.Size); sent != c.Size {
		t.Fatalf("origin sent %d bytes for a %d-byte file:%s", sent, c.Size, logString(gets(e.o)))
	}
	checkRead(t, s, c, 0, c.Size)
}

// TestThrottledConcurrentReaders: several sequential readers from different
// starting points on a throttled origin all see exact bytes.
func TestThrottledConcurrentReaders(t *testing.T) {
	c := testorigin.Content{Seed: 6, Size: 3<<20 + 12345}
	e := newEnv(t, testorigin.Options{Content: c, BytesPerSecond: 8 << 20}, fastOpts())
	s := e.newStore(t, e.source("throttled"))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			step := int64(37_000 + i*10_000)
			for off := int64(i) * c.Size / 6; off < c.Size; off += step {
				p := make([]byte, step)
				n, err := s.ReadAt(context.Background(), p, off)
				if err := compareRead(c, off, step, p[:n], err); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	waitAll(t, &wg, "readers")
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestResumeAfterCut: a connection cut mid-body resumes exactly where it
// stopped, with If-Range carrying the staged validator.
func TestResumeAfterCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		oo   testorigin.Options
	}{
		{"etag", testorigin.Options{}},
		{"last-modified only", testorigin.Options{NoETag: true}},
		{"weak etag", testorigin.Options{ETag: `W/"weak"`}},
		{"no content-length", testorigin.Options{NoContentLength: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testorigin.Content{Seed: 7, Size: 2<<20 + 7}
			oo := tc.oo
			oo.Content, oo.CutAfter, oo.CutCount = c, 300_001, 3
			so := fastOpts()
			so.Connections, so.MaxFetchers, so.ChunkSize = 1, 1, 4<<20 // one claim for the whole file
			e := newEnv(t, oo, so)
			src := e.source("cut")
			s := e.newStore(t, src)
			checkRead(t, s, c, 0, c.Size)

			reqs := gets(e.o)
			if len(reqs) != 4 {
				t.Fatalf("want 4 GETs (3 cut, 1 whole):%s", logString(reqs))
			}
			want := ifRange(&s.rem)
			byDate := tc.oo.NoETag || strings.HasPrefix(tc.oo.ETag, "W/")
			if !byDate && want != src.ETag || byDate && want != src.LastModified.UTC().Format(http.TimeFormat) {
				t.Fatalf("If-Range validator %q for %+v", want, src)
			}
			next := int64(0)
			for i, r := range reqs {
				if r.Status != http.StatusPartialContent || r.IfRange != want {
					t.Fatalf("request %d: status %d If-Range %q, want 206 %q:%s", i, r.Status, r.IfRange, want, logString(reqs))
				}
				if got := rangeStart(r.Range); got != next {
					t.Fatalf("request %d starts at %d, previous stopped at %d:%s", i, got, next, logString(reqs))
				}
				next += r.BytesSent
			}
			if sent := waitSent(t, e.o, c.Size); sent != c.Size {
				t.Fatalf("origin sent %d bytes in all:%s", sent, logString(gets(e.o)))
			}
		})
	}
}

// TestIgnoreRange: an origin that ignores Range is read as one stream, with
// or without Content-Length, and resumes (from 0) after a cut.
func TestIgnoreRange(t *testing.T) {
	for _, tc := range []struct {
		name     string
		declared bool // Remote.NoRange
		noCL     bool
		cut      int64
	}{
		{"discovered", false, false, 0},
		{"declared", true, false, 0},
		{"discovered no content-length", false, true, 0},
		{"declared no content-length cut", true, true, 200_000},
		{"discovered cut", false, false, 300_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testorigin.Content{Seed: 8, Size: 1<<20 + 999}
			e := newEnv(t, testorigin.Options{Content: c, IgnoreRange: true, NoContentLength: tc.noCL, CutAfter: tc.cut, CutCount: 2}, fastOpts())
			src := e.source("norange")
			src.NoRange = tc.declared
			s := e.newStore(t, src)
			checkRead(t, s, c, c.Size-1000, 1000) // far read first: must still be right
			checkRead(t, s, c, 0, c.Size)
			checkRead(t, s, c, 5, 70_000)
			reqs := gets(e.o)
			ranged, whole := 0, 0
			for _, r := range reqs {
				if r.Status != http.StatusOK {
					t.Fatalf("status %d:%s", r.Status, logString(reqs))
				}
				if r.Range != "" {
					ranged++
				} else {
					whole++
				}
			}
			if tc.declared && ranged > 0 {
				t.Fatalf("Range sent to an origin declared without it:%s", logString(reqs))
			}
			if !tc.declared && ranged > 8 {
				t.Fatalf("%d ranged requests before switching to a stream:%s", ranged, logString(reqs))
			}
			if whole == 0 {
				t.Fatalf("no whole-body request:%s", logString(reqs))
			}
		})
	}
}

// TestIgnoreRangeCutForever: an origin that ignores Range and always cuts
// the body at the same byte can never be read; the store must give up after
// its retries (the reader gets an error) instead of re-downloading the same
// prefix forever.
func TestIgnoreRangeCutForever(t *testing.T) {
	c := testorigin.Content{Seed: 9, Size: 1 << 20}
	so := fastOpts()
	so.Retries = 3
	e := newEnv(t, testorigin.Options{Content: c, IgnoreRange: true, CutAfter: 100_000, CutCount: 1 << 30}, so)
	src := e.source("cutforever")
	src.NoRange = true
	s := e.newStore(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadAt(ctx, make([]byte, 10), c.Size-10)
		done <- err
	}()
	const limit = 50 // Retries is 3: anything near 50 attempts is a livelock
	var err error
	deadline := time.After(testTimeout)
loop:
	for {
		select {
		case err = <-done:
			break loop
		case <-deadline:
			dumpAndFail(t, "read")
		default:
		}
		if n := e.o.Count(http.MethodGet); n > limit {
			cancel()
			<-done
			t.Fatalf("%d requests re-reading the same %d-byte prefix with Retries=%d and the reader still waiting: "+
				"failures reset on bytes fetched rather than on new bytes present", n, 100_000, so.Retries)
		}
		time.Sleep(time.Millisecond)
	}
	if err == nil || errors.Is(err, ErrClosed) {
		t.Fatalf("read: %v, want a download error", err)
	}
}

// Test5xxRetried: a few 503s are retried transparently.
func Test5xxRetried(t *testing.T) {
	c := testorigin.Content{Seed: 10, Size: 700_000}
	so := fastOpts()
	so.Connections, so.MaxFetchers = 1, 1
	e := newEnv(t, testorigin.Options{Content: c, FailCount: 3}, so)
	s := e.newStore(t, e.source("5xx"))
	checkRead(t, s, c, 0, c.Size)
	reqs := gets(e.o)
	for i := range 3 {
		if reqs[i].Status != http.StatusServiceUnavailable {
			t.Fatalf("request %d:%s", i, logString(reqs))
		}
	}
	if reqs[3].Status != http.StatusPartialContent || rangeStart(reqs[3].Range) != 0 {
		t.Fatalf("retry:%s", logString(reqs))
	}
}

// Test5xxAlways: a reader gets an error (not zeros), the store reports it,
// and a later read retries and succeeds once the origin is back.
func Test5xxAlways(t *testing.T) {
	c := testorigin.Content{Seed: 11, Size: 700_000}
	so := fastOpts()
	so.Retries = 2
	e := newEnv(t, testorigin.Options{Content: c, FailCount: 1 << 30, FailStatus: http.StatusBadGateway}, so)
	s := e.newStore(t, e.source("down"))
	got, err := readAt(t, s, 1000, 5000)
	if err == nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrChanged) || len(got) != 0 {
		t.Fatalf("read from a failing origin: %d bytes, err %v", len(got), err)
	}
	if !strings.Contains(err.Error(), "502") {
		t.Errorf("error does not say what the origin answered: %v", err)
	}
	eventually(t, "fetchers to stop", func() bool { return s.fetchers() == 0 })
	if p := s.Progress(); p.State != StateError || p.Err == nil {
		t.Fatalf("progress after giving up: %+v", p)
	}
	n := e.o.Count(http.MethodGet)
	if n < so.Retries+1 {
		t.Fatalf("gave up after %d requests, Retries=%d", n, so.Retries)
	}
	// Stalled: nothing more is requested until a read asks.
	e.o.SetFailCount(0)
	if p, k := s.Progress(), s.fetchers(); k != 0 || e.o.Count(http.MethodGet) != n {
		t.Fatalf("stalled store still fetching (%d fetches): %+v", k, p)
	}
	checkRead(t, s, c, 1000, 5000)
	checkRead(t, s, c, 0, c.Size)
}

// TestNotFound: a 4xx is not retried.
func TestNotFound(t *testing.T) {
	c := testorigin.Content{Seed: 12, Size: 1000}
	so := fastOpts()
	so.Connections, so.MaxFetchers = 1, 1
	e := newEnv(t, testorigin.Options{Content: c}, so)
	src := e.source("gone")
	src.URL = e.o.Server.URL + "/nope"
	s := e.newStore(t, src)
	_, err := readAt(t, s, 0, 10)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err %v, want a 404", err)
	}
	if n := e.o.Count(http.MethodGet); n != 1 {
		t.Fatalf("404 requested %d times", n)
	}
}

// TestChangedMidDownload: the origin's file changes while the first request
// is in flight; from then on every read fails with ErrChanged (bytes already
// present included), and the temp file never holds bytes of the new version.
func TestChangedMidDownload(t *testing.T) {
	for _, tc := range []struct {
		name string
		oo   testorigin.Options
	}{
		{"etag", testorigin.Options{}},
		{"last-modified only", testorigin.Options{NoETag: true}},
		{"weak etag", testorigin.Options{ETag: `W/"weak"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testorigin.Content{Seed: 13, Size: 3 << 20}
			oo := tc.oo
			oo.Content = c
			so := fastOpts()
			so.Connections, so.MaxFetchers, so.ChunkSize = 1, 1, 1<<20
			e := newEnv(t, oo, so)
			s := e.newStore(t, e.source("changing"))
			release := e.o.Block()
			defer release()
			type res struct {
				n   int
				err error
			}
			done := make(chan res, 1)
			go func() {
				n, err := s.ReadAt(context.Background(), make([]byte, c.Size), 0)
				done <- res{n, err}
			}()
			eventually(t, "the first request to reach the origin", func() bool { return e.o.Waiting() == 1 })
			e.o.Change()
			release()
			r := wait(t, done, "read")
			if !errors.Is(r.err, ErrChanged) || r.n != 0 {
				t.Fatalf("read across the change: n=%d err=%v, want ErrChanged:%s", r.n, r.err, logString(gets(e.o)))
			}
			// Reads fail from now on, present bytes included; those in the
			// temp file are the first request's, all of the staged version.
			if _, err := readAt(t, s, 0, 10); !errors.Is(err, ErrChanged) {
				t.Fatalf("read of present bytes after the change: %v, want ErrChanged", err)
			}
			got := make([]byte, 1<<20)
			tmp, err := os.ReadFile(s.path)
			if err == nil {
				copy(got, tmp)
			}
			if err != nil || !bytes.Equal(got, c.Bytes(0, 1<<20)) {
				t.Fatalf("temp file holds other bytes than the staged version's (err %v)", err)
			}
			if _, err := readAt(t, s, 2<<20, 10); !errors.Is(err, ErrChanged) {
				t.Fatalf("later read: %v, want ErrChanged", err)
			}
			if p := s.Progress(); p.State != StateFailed || !errors.Is(p.Err, ErrChanged) {
				t.Fatalf("progress %+v", p)
			}
		})
	}
}

// TestChangedRandomReads: the file changes after 1 MiB was served while many
// readers read at random; each read is either exact or fails with ErrChanged.
func TestChangedRandomReads(t *testing.T) {
	c := testorigin.Content{Seed: 14, Size: 4 << 20}
	e := newEnv(t, testorigin.Options{Content: c, ChangeAfter: 1 << 20, BytesPerSecond: 16 << 20}, fastOpts())
	s := e.newStore(t, e.source("changing"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	changed, ok := 0, 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(i)))
			for range 20 {
				off := rng.Int63n(c.Size)
				n := 1 + rng.Int63n(200_000)
				p := make([]byte, n)
				k, err := s.ReadAt(context.Background(), p, off)
				mu.Lock()
				switch {
				case errors.Is(err, ErrChanged):
					changed++
					if k != 0 {
						t.Errorf("ErrChanged with %d bytes", k)
					}
				default:
					ok++
					if err := compareRead(c, off, n, p[:k], err); err != nil {
						t.Error(err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	waitAll(t, &wg, "readers")
	if changed == 0 {
		t.Fatalf("no read saw the change (%d ok)", ok)
	}
	t.Logf("%d reads exact, %d ErrChanged", ok, changed)
}

// TestOutOfOrderRead: while a throttled sequential download runs at the
// start, a far read is served by a request starting exactly at its offset; a
// read inside a far part of a running fetch's claim splits it; a read just
// ahead of a fetcher waits for it instead of opening another request.
func TestOutOfOrderRead(t *testing.T) {
	c := testorigin.Content{Seed: 15, Size: 64 << 20}
	so := Options{ChunkSize: 8 << 20, NearWindow: 1 << 20, Connections: 4, MaxFetchers: 8, RetryBase: time.Millisecond}
	e := newEnv(t, testorigin.Options{Content: c, BytesPerSecond: 1 << 20}, so)
	s := e.newStore(t, e.source("big"))
	checkRead(t, s, c, 0, 64<<10)
	startsAt := func(off int64) int {
		k := 0
		for _, r := range gets(e.o) {
			if rangeStart(r.Range) == off {
				k++
			}
		}
		return k
	}
	// claimed returns a running fetch's [pos, end) with at least need bytes
	// left, or ok=false.
	claimed := func(need int64) (pos, end int64, ok bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, f := range s.fetches {
			if f.end-f.pos >= need {
				return f.pos, f.end, true
			}
		}
		return 0, 0, false
	}
	far := int64(48<<20 + 123)
	if _, end, ok := claimed(0); !ok || end > far {
		t.Fatalf("readahead already claims %d after one small read", end)
	}
	checkRead(t, s, c, far, 64<<10)
	if startsAt(far) != 1 {
		t.Fatalf("far read at %d not served by a request starting there:%s", far, logString(gets(e.o)))
	}
	pos, _, ok := claimed(2*so.NearWindow + 64<<10 + 1<<20)
	if !ok {
		t.Fatalf("no long claim to split with this chunk layout:%s", logString(gets(e.o)))
	}
	split := pos + 2*so.NearWindow + 5 // far beyond the fetcher's position
	checkRead(t, s, c, split, 64<<10)
	if startsAt(split) != 1 {
		t.Fatalf("read at %d inside a far claim did not split it:%s", split, logString(gets(e.o)))
	}
	pos, _, ok = claimed(so.NearWindow)
	if !ok {
		t.Fatalf("no fetcher with a claim left:%s", logString(gets(e.o)))
	}
	near := pos + 1000 // just ahead of a running fetcher
	checkRead(t, s, c, near, 10_000)
	for _, r := range gets(e.o) {
		if a := rangeStart(r.Range); a > pos && a < near+10_000 {
			t.Fatalf("read just ahead of a fetcher at %d opened a request:%s", pos, logString(gets(e.o)))
		}
	}
}

// TestStallWatchdog: an origin that sends headers and then nothing is
// retried after StallTimeout instead of leaving the reader waiting.
func TestStallWatchdog(t *testing.T) {
	c := testorigin.Content{Seed: 16, Size: 500_000}
	so := fastOpts()
	so.Connections, so.MaxFetchers, so.StallTimeout = 1, 1, 20*time.Millisecond
	e := newEnv(t, testorigin.Options{Content: c}, so)
	s := e.newStore(t, e.source("stall"))
	release := e.o.Block()
	defer release()
	done := make(chan error, 1)
	go func() {
		p := make([]byte, c.Size)
		n, err := s.ReadAt(context.Background(), p, 0)
		done <- compareRead(c, 0, c.Size, p[:n], err)
	}()
	eventually(t, "a retry of the stalled request", func() bool { return e.o.Count(http.MethodGet) >= 2 })
	release()
	if err := wait(t, done, "read"); err != nil {
		t.Fatal(err)
	}
}

// TestReadCtxCancelled: a reader's own context ends its wait; the store
// stays usable.
func TestReadCtxCancelled(t *testing.T) {
	c := testorigin.Content{Seed: 17, Size: 500_000}
	e := newEnv(t, testorigin.Options{Content: c}, fastOpts())
	s := e.newStore(t, e.source("ctx"))
	release := e.o.Block()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadAt(ctx, make([]byte, 100), 0)
		done <- err
	}()
	eventually(t, "reader waiting", func() bool { return waiters(s) == 1 })
	cancel()
	if err := wait(t, done, "read"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if waiters(s) != 0 {
		t.Fatal("cancelled waiter left registered")
	}
	release()
	checkRead(t, s, c, 0, c.Size)
}

var _ = fmt.Sprint
var _ = os.Remove
