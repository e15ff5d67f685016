package store

import (
	"context"
	"errors"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// TestNoValidatorsNeverMix: an origin that serves Range but sends neither
// ETag nor Last-Modified changes its file during the download. Every read
// returns bytes of the staged version or fails with ErrChanged; none gets
// bytes of both.
func TestNoValidatorsNeverMix(t *testing.T) {
	t.Run("change before a restart", func(t *testing.T) {
		c := testorigin.Content{Seed: 81, Size: 1 << 20}
		e := newEnv(t, testorigin.Options{Content: c, NoETag: true, NoLastModified: true,
			CutAfter: 256 << 10, CutCount: 1, ChangeAfter: 256 << 10}, fastOpts())
		s := e.newStore(t, testSource{Name: "f", URL: e.o.URL(), Size: c.Size})
		p := make([]byte, c.Size)
		if _, err := s.ReadAt(context.Background(), p, 0); !errors.Is(err, ErrChanged) {
			t.Fatalf("read across a change: %v, want ErrChanged:%s", err, logString(gets(e.o)))
		}
		if _, err := readAt(t, s, 0, 10); !errors.Is(err, ErrChanged) {
			t.Fatalf("later read: %v, want ErrChanged", err)
		}
	})
	t.Run("random readers", func(t *testing.T) {
		c := testorigin.Content{Seed: 82, Size: 4 << 20}
		e := newEnv(t, testorigin.Options{Content: c, NoETag: true, NoLastModified: true, BytesPerSecond: 16 << 20,
			ChangeAfter: 1 << 20, CutAfter: 3 << 19, CutCount: 1}, fastOpts())
		s := e.newStore(t, testSource{Name: "f", URL: e.o.URL(), Size: c.Size})
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewSource(int64(i)))
				for range 10 {
					off, n := rng.Int63n(c.Size), 1+rng.Int63n(100_000)
					p := make([]byte, n)
					k, err := s.ReadAt(context.Background(), p, off)
					if errors.Is(err, ErrChanged) {
						continue
					}
					if err := compareRead(c, off, n, p[:k], err); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		waitAll(t, &wg, "readers")
		close(errs)
		for err := range errs {
			t.Errorf("bytes of another version: %v:%s", err, logString(gets(e.o)))
		}
	})
}

// TestStalledUnknownSizeFailsStaging: a source with no length whose body
// goes silent fails Stage with ErrNoAnswer after the stall timeout, while a
// sibling staged at the same time is fine.
func TestStalledUnknownSizeFailsStaging(t *testing.T) {
	c := testorigin.Content{Seed: 83, Size: 1 << 20}
	so := fastOpts()
	so.StallTimeout = 100 * time.Millisecond
	e := newEnv(t, testorigin.Options{Content: c, IgnoreRange: true, NoContentLength: true, StallAfter: 100_000}, so)
	sib := testorigin.New(t, testorigin.Options{Content: c, IgnoreRange: true, NoContentLength: true})
	ctx := context.Background()
	stage := func(u string) (*Store, error) {
		r, err := e.m.Probe(ctx, u, nil)
		if err != nil {
			return nil, err
		}
		if r.Size != -1 {
			t.Fatalf("probe of %s found size %d; the test needs an unknown size", u, r.Size)
		}
		return e.m.Stage(ctx, Source{Name: "f", URL: u}, r, nil)
	}
	type res struct {
		s   *Store
		err error
	}
	stalled, sibling := make(chan res, 1), make(chan res, 1)
	go func() { s, err := stage(e.o.URL()); stalled <- res{s, err} }()
	go func() { s, err := stage(sib.URL()); sibling <- res{s, err} }()
	r := wait(t, stalled, "staging of the stalled source")
	if !errors.Is(r.err, ErrNoAnswer) || !strings.Contains(r.err.Error(), "100ms") {
		t.Fatalf("stage of a stalled source: %v, want ErrNoAnswer naming the timeout", r.err)
	}
	r = wait(t, sibling, "staging of the sibling")
	if r.err != nil || r.s.Size() != c.Size {
		t.Fatalf("sibling: %v", r.err)
	}
	checkRead(t, r.s, c, 0, c.Size)
	if left, _ := filepath.Glob(filepath.Join(e.m.Dir(), "*.part")); len(left) != 1 {
		t.Fatalf("temp files %v, want only the sibling's", left)
	}
}

// outageOpts retry for budget with backoff capped at 10 ms.
func outageOpts(budget time.Duration) Options {
	so := fastOpts()
	so.Connections, so.MaxFetchers = 1, 1
	so.Retries, so.RetryBudget, so.RetryMax = 1, budget, 10*time.Millisecond
	return so
}

func failedGets(o *testorigin.Origin) int {
	n := 0
	for _, r := range gets(o) {
		if r.Status >= 500 {
			n++
		}
	}
	return n
}

// TestOutageSurvived: an origin that fails for far more attempts than
// Retries, within the retry budget, costs a wait, not the download; a reader
// with its own deadline stops waiting meanwhile, without ending the fetch.
func TestOutageSurvived(t *testing.T) {
	c := testorigin.Content{Seed: 84, Size: 1 << 20}
	so := outageOpts(time.Minute)
	e := newEnv(t, testorigin.Options{Content: c, FailCount: 1 << 30}, so)
	s := e.newStore(t, e.source("f"))

	ctx, cancel := context.WithCancel(context.Background())
	short := make(chan error, 1)
	go func() {
		_, err := s.ReadAt(ctx, make([]byte, 100), 0)
		short <- err
	}()
	eventually(t, "failed attempts", func() bool { return failedGets(e.o) >= 5 })
	cancel()
	if err := wait(t, short, "the reader with its own deadline"); !errors.Is(err, context.Canceled) {
		t.Fatalf("reader whose context ended: %v", err)
	}

	done := make(chan error, 1)
	go func() {
		p := make([]byte, c.Size)
		n, err := s.ReadAt(context.Background(), p, 0)
		done <- compareRead(c, 0, c.Size, p[:n], err)
	}()
	// Ten times the attempts a count of Retries would allow.
	eventually(t, "many failed attempts", func() bool { return failedGets(e.o) >= 10*(so.Retries+1) })
	e.o.SetFailCount(0)
	if err := wait(t, done, "read after the outage"); err != nil {
		t.Fatal(err)
	}
}

// TestRetryBudgetEnds: past the budget, a fetch gives up and the reader
// gets the origin's status.
func TestRetryBudgetEnds(t *testing.T) {
	c := testorigin.Content{Seed: 85, Size: 100_000}
	e := newEnv(t, testorigin.Options{Content: c, FailCount: 1 << 30}, outageOpts(50*time.Millisecond))
	s := e.newStore(t, e.source("f"))
	_, err := readAt(t, s, 0, 100)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("read: %v, want the 503", err)
	}
}

// TestRetryAfter: the origin's Retry-After sets the wait, within the budget.
func TestRetryAfter(t *testing.T) {
	c := testorigin.Content{Seed: 86, Size: 100_000}
	t.Run("honoured", func(t *testing.T) {
		e := newEnv(t, testorigin.Options{Content: c, FailCount: 1, RetryAfter: "1"}, outageOpts(time.Minute))
		s := e.newStore(t, e.source("f"))
		checkRead(t, s, c, 0, c.Size)
		reqs := gets(e.o)
		if len(reqs) < 2 {
			t.Fatalf("no retry:%s", logString(reqs))
		}
		if gap := reqs[1].Time.Sub(reqs[0].Time); gap < 900*time.Millisecond {
			t.Fatalf("retried %v after a 503 with Retry-After: 1", gap)
		}
	})
	t.Run("capped by the budget", func(t *testing.T) {
		e := newEnv(t, testorigin.Options{Content: c, FailCount: 1 << 30, RetryAfter: "3600"}, outageOpts(100*time.Millisecond))
		s := e.newStore(t, e.source("f"))
		// readAt fails the test after testTimeout: an hour is not waited.
		if _, err := readAt(t, s, 0, 100); err == nil {
			t.Fatal("read from a failing origin succeeded")
		}
	})
}

// TestShortRangesAreNormal: an origin that answers each range with at most
// 64 KiB (and says so in Content-Range) is read on at once: no warning, no
// failed attempt, one request per 64 KiB.
func TestShortRangesAreNormal(t *testing.T) {
	c := testorigin.Content{Seed: 87, Size: 1 << 20}
	var logs logSink
	so := fastOpts()
	so.Connections, so.MaxFetchers, so.ChunkSize = 1, 1, c.Size
	so.Logger = logs.logger()
	e := newEnv(t, testorigin.Options{Content: c, MaxRangeBytes: 64 << 10}, so)
	s := e.newStore(t, e.source("f"))
	checkRead(t, s, c, 0, c.Size)
	if n := logs.count("WARN") + logs.count("DEBUG", "attempt failed"); n != 0 {
		t.Fatalf("%d warnings or failed attempts for honest short ranges:%s", n, logs.String())
	}
	reqs := gets(e.o)
	if len(reqs) != 16 {
		t.Fatalf("%d requests for 16 ranges of 64 KiB:%s", len(reqs), logString(reqs))
	}
	next := int64(0)
	for i, r := range reqs {
		if rangeStart(r.Range) != next || r.Status != http.StatusPartialContent {
			t.Fatalf("request %d does not continue at %d:%s", i, next, logString(reqs))
		}
		next += r.BytesSent
	}
}

// tmpfsCache mounts a tmpfs of size bytes for the cache; it needs the
// right to mount (root).
func tmpfsCache(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a small tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a small tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestNoSpace: on a 3 MiB cache disk, a 2.5 MiB file fits once an idle file
// is evicted; a 16 MiB file never does, and reads of it fail at once with
// ErrNoSpace saying what is needed, what is free and where.
func TestNoSpace(t *testing.T) {
	so := fastOpts()
	so.Dir = tmpfsCache(t, "3m")
	so.FreeMargin = -1 // the whole small disk is the cache's
	small := testorigin.Content{Seed: 88, Size: 1 << 20}
	e := newEnv(t, testorigin.Options{Content: small}, so)
	a := e.newStore(t, e.source("a"))
	checkRead(t, a, small, 0, small.Size)
	eventually(t, "a complete", func() bool { return a.Progress().State == StateComplete })

	mid := testorigin.Content{Seed: 89, Size: 5 << 19}
	om := testorigin.New(t, testorigin.Options{Content: mid})
	b := e.newStore(t, testSource{Name: "b", URL: om.URL(), Size: mid.Size})
	checkRead(t, b, mid, 0, mid.Size)
	if p := a.Progress(); p.Present != 0 {
		t.Fatalf("a still holds %d bytes after b needed its room", p.Present)
	}

	big := testorigin.Content{Seed: 90, Size: 16 << 20}
	ob := testorigin.New(t, testorigin.Options{Content: big})
	cs := e.newStore(t, testSource{Name: "c", URL: ob.URL(), Size: big.Size})
	for range 2 {
		_, err := readAt(t, cs, 0, 4<<20)
		if !errors.Is(err, ErrNoSpace) {
			t.Fatalf("read of a file that cannot fit: %v, want ErrNoSpace", err)
		}
		for _, part := range []string{"needs 16777216 bytes", "free", so.Dir} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%q does not say %q", err, part)
			}
		}
	}
	if p := cs.Progress(); p.State != StateError || !errors.Is(p.Err, ErrNoSpace) {
		t.Fatalf("progress of c: %+v", p)
	}
}

// TestNoValidatorsEvictedThenChanged: a file without validators is read
// whole, evicted, and changed at the origin; the download after the
// eviction hands out none of the new bytes. Without a change, it serves
// the file again.
func TestNoValidatorsEvictedThenChanged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int64
		change  bool
		unknown bool // staged without a size: downloaded whole first
	}{
		{"unchanged", 3<<20 + 5, false, false},
		{"changed", 3<<20 + 5, true, false},
		{"changed, one short block", 500_000, true, false},
		{"unknown size, changed", 3<<20 + 5, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testorigin.Content{Seed: 92, Size: tc.size}
			e := newEnv(t, testorigin.Options{Content: c, NoETag: true, NoLastModified: true, NoContentLength: tc.unknown, IgnoreRange: tc.unknown}, fastOpts())
			var s *Store
			if tc.unknown {
				r, err := e.m.Probe(context.Background(), e.o.URL(), nil)
				must(t, err)
				s, err = e.m.Stage(context.Background(), Source{Name: "f", URL: e.o.URL()}, r, nil)
				must(t, err)
			} else {
				s = e.newStore(t, testSource{Name: "f", URL: e.o.URL(), Size: c.Size})
				checkRead(t, s, c, 0, c.Size)
				eventually(t, "complete", func() bool { return s.Progress().State == StateComplete })
			}
			if s.evict() == 0 {
				t.Fatal("evict refused")
			}
			if !tc.change {
				checkRead(t, s, c, 0, c.Size)
				return
			}
			e.o.Change()
			// The first block differs: not even its first bytes come out.
			if got, err := readAt(t, s, 0, 100); !errors.Is(err, ErrChanged) {
				t.Fatalf("read after the change: %d bytes, %v; want ErrChanged", len(got), err)
			}
		})
	}
}

func TestDigests(t *testing.T) {
	c := testorigin.Content{Seed: 93, Size: 2<<20 + 100}
	data := c.Bytes(0, c.Size)
	d := newDigests()
	must(t, d.feed(data[:700_000]))
	must(t, d.feed(data[700_000:]))
	must(t, d.end())
	if len(d.sums) != 3 {
		t.Fatalf("%d sums for 2 MiB + 100 bytes", len(d.sums))
	}
	// The same bytes in other pieces match; safe holds back a known block
	// until it is complete.
	d.restart()
	must(t, d.feed(data[:100]))
	if got := d.safe(100); got != 0 {
		t.Fatalf("safe = %d inside an unverified known block", got)
	}
	must(t, d.feed(data[100:1<<20+5]))
	if got := d.safe(1<<20 + 5); got != 1<<20 {
		t.Fatalf("safe = %d after one verified block", got)
	}
	must(t, d.feed(data[1<<20+5:]))
	must(t, d.end())
	if got := d.safe(c.Size); got != c.Size {
		t.Fatalf("safe = %d at the end", got)
	}
	// One changed byte in the last, short block is found.
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 1
	d.restart()
	must(t, d.feed(bad))
	if err := d.end(); !errors.Is(err, ErrChanged) {
		t.Fatalf("changed last byte: %v, want ErrChanged", err)
	}
}

// TestNoSpaceConcurrent: two files that do not both fit are read at once
// on a small cache disk; each read ends (bytes or ErrNoSpace), neither
// waits for the other's attempt to make room.
func TestNoSpaceConcurrent(t *testing.T) {
	so := fastOpts()
	so.Dir = tmpfsCache(t, "3m")
	so.FreeMargin = -1 // the whole small disk is the cache's
	c1 := testorigin.Content{Seed: 94, Size: 2 << 20}
	c2 := testorigin.Content{Seed: 95, Size: 2 << 20}
	e := newEnv(t, testorigin.Options{Content: c1}, so)
	o2 := testorigin.New(t, testorigin.Options{Content: c2})
	for range 5 {
		s1 := e.newStore(t, e.source("one"))
		s2 := e.newStore(t, testSource{Name: "two", URL: o2.URL(), Size: c2.Size})
		errs := make(chan error, 2)
		for _, x := range []struct {
			s *Store
			c testorigin.Content
		}{{s1, c1}, {s2, c2}} {
			go func() {
				p := make([]byte, x.c.Size)
				n, err := x.s.ReadAt(context.Background(), p, 0)
				if errors.Is(err, ErrNoSpace) {
					err = nil
				} else {
					err = compareRead(x.c, 0, x.c.Size, p[:n], err)
				}
				errs <- err
			}()
		}
		for range 2 {
			if err := wait(t, errs, "reads of files that do not both fit"); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range []*Store{s1, s2} {
			if err := s.Unstage(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestTwentySecondOutage: with the default retry policy (a minute of
// budget, backoff capped at a few seconds), an origin that breaks the
// connection mid-download and then refuses for 20 s of wall time is
// waited out: the reader gets every byte right, and nothing gave up.
func TestTwentySecondOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 20 s of wall time; -short skips it")
	}
	c := testorigin.Content{Seed: 91, Size: 8 << 20}
	e := newEnv(t, testorigin.Options{Content: c, BytesPerSecond: 4 << 20}, Options{Connections: 1})
	s := e.newStore(t, e.source("f"))
	done := make(chan error, 1)
	go func() {
		p := make([]byte, c.Size)
		n, err := s.ReadAt(context.Background(), p, 0)
		done <- compareRead(c, 0, c.Size, p[:n], err)
	}()
	eventually(t, "the download under way", func() bool { return e.o.BytesServed() >= 2<<20 })
	const outage = 20 * time.Second
	e.o.SetFailCount(1 << 30)
	e.o.Server.CloseClientConnections()
	began := time.Now()
	restore := time.AfterFunc(outage, func() { e.o.SetFailCount(0) })
	defer restore.Stop()
	if err := wait(t, done, "the read across the outage"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < outage {
		t.Fatalf("the read finished %v into a %v outage: the outage did not happen", took, outage)
	}
	if n := failedGets(e.o); n < 5 {
		t.Errorf("%d refused attempts during a %v outage; want retries all along", n, outage)
	}
	if p := s.Progress(); p.State != StateComplete && p.Present != c.Size {
		t.Errorf("after the outage: %+v", p)
	}
}
