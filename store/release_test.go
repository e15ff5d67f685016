//go:build linux

package store

import (
	"context"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"fsm/internal/testorigin"
)

// These tests stream files several times the size of a real small tmpfs
// through a smaller cache share, checking every byte against the origin's
// generator and the temp file's blocks (st_blocks) after every read.

// diskUse is how many bytes of disk the temp file of s holds.
func diskUse(t testing.TB, s *Store) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(s.path, &st); err != nil {
		t.Fatalf("stat temp file: %v", err)
	}
	return st.Blocks * 512
}

// bigEnv is a cache on a 16 MiB tmpfs, with a budget of budget bytes (0:
// none, so the disk bounds it), and a 64 MiB file.
func bigEnv(t *testing.T, budget int64) (*env, *Store, testorigin.Content) {
	t.Helper()
	so := fastOpts()
	so.Dir = tmpfsCache(t, "16m")
	so.MaxSize = budget
	so.FreeMargin = -1 // the whole small disk is the cache's
	c := testorigin.Content{Seed: 2301, Size: 64 * mib}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	s := e.newStore(t, e.source("big"))
	if !s.OpenHandle() {
		t.Fatal("OpenHandle refused")
	}
	t.Cleanup(func() { s.ReleaseHandle(context.Background()) })
	return e, s, c
}

// readThrough reads [off, end) in steps of step bytes, checking every byte
// and the disk use after each read; it returns the largest use seen.
func readThrough(t *testing.T, s *Store, c testorigin.Content, off, end, step, bound int64) int64 {
	t.Helper()
	var most int64
	for pos := off; pos < end; pos += step {
		checkRead(t, s, c, pos, min(step, end-pos))
		use := diskUse(t, s)
		most = max(most, use)
		if use > bound {
			t.Fatalf("after the read at %d the temp file holds %d bytes of disk, more than %d", pos, use, bound)
		}
	}
	return most
}

// TestStreamBiggerThanTheCache: a sequential reader goes through a file four
// times the disk and eight times its share; the temp file never holds more
// than the share and one chunk, which is the budget (or its part of the
// disk), each byte comes from the origin once, and the API's Streaming
// says the share.
func TestStreamBiggerThanTheCache(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget int64
		share  int64
	}{
		{"budget", 8 * mib, 8 * mib},
		{"disk", 0, 8 * mib}, // half the free 16 MiB tmpfs
	} {
		tc.share -= fastOpts().ChunkSize // the chunk in flight is left out
		t.Run(tc.name, func(t *testing.T) {
			_, s, c := bigEnv(t, tc.budget)
			if s.big == nil {
				t.Fatal("a file four times the disk is not streamed")
			}
			bound := tc.share + s.m.opts.ChunkSize
			most := readThrough(t, s, c, 0, c.Size, 128<<10, bound)
			if got := s.Progress().Streaming; got != tc.share {
				t.Errorf("Progress.Streaming %d, want %d", got, tc.share)
			}
			if f := s.fetchedBytes(); f > c.Size+bound {
				t.Errorf("fetched %d bytes for one pass over %d: released bytes the reader still needed", f, c.Size)
			}
			// How deep readahead goes depends on the connections chosen;
			// this only shows st_blocks measured something.
			if most < 1*mib {
				t.Errorf("at most %d bytes on disk: the disk use measured nothing", most)
			}
			t.Logf("at most %d bytes on disk for a share of %d; %d fetched", most, tc.share, s.fetchedBytes())
		})
	}
}

// TestRefetchAfterRelease: bytes released behind a reader are gone from the
// range set, and reading them again fetches them again, right.
func TestRefetchAfterRelease(t *testing.T) {
	_, s, c := bigEnv(t, 8*mib)
	readThrough(t, s, c, 0, 32*mib, 256<<10, 8*mib+s.m.opts.ChunkSize)
	s.mu.Lock()
	gone := !s.present.contains(0, 64<<10)
	s.mu.Unlock()
	if !gone {
		t.Fatal("the first bytes are still present after the reader went 32 MiB past them")
	}
	before := s.fetchedBytes()
	checkRead(t, s, c, 0, 64<<10)
	if s.fetchedBytes() == before {
		t.Fatal("a re-read of released bytes fetched nothing")
	}
	// A restart must not trust a range a later release may punch.
	if r := s.Checkpoint().Ranges; len(r) != 0 {
		t.Fatalf("a streamed file's checkpoint names ranges %v", r)
	}
}

// TestTwoReadersKeepWhatEachNeeds: two handles read at offsets 32 MiB
// apart, taking turns. Each one's readahead is kept while the other reads,
// so every byte is fetched once, and the two together stay in the share.
func TestTwoReadersKeepWhatEachNeeds(t *testing.T) {
	_, s, c := bigEnv(t, 8*mib)
	if !s.OpenHandle() { // the second reader's
		t.Fatal("OpenHandle refused")
	}
	t.Cleanup(func() { s.ReleaseHandle(context.Background()) })
	// The share (the budget less a chunk), and a chunk in flight for
	// each reader.
	bound := 8*mib + s.m.opts.ChunkSize
	const step, n = 128 << 10, 16 * mib
	for pos := int64(0); pos < n; pos += step {
		for _, base := range []int64{0, 32 * mib} {
			checkRead(t, s, c, base+pos, step)
			if use := diskUse(t, s); use > bound {
				t.Fatalf("after the read at %d the temp file holds %d bytes of disk, more than %d", base+pos, use, bound)
			}
		}
	}
	// Each reader's window is half the share: what is fetched past the
	// 2×16 MiB read is at most that, per reader.
	if f := s.fetchedBytes(); f > 2*n+bound {
		t.Errorf("fetched %d bytes for two readers of %d each: one released what the other still needed", f, n)
	}
}

// TestFarReadBiggerThanTheDisk: a read far into a file 64 times the disk is
// served at once: only its range is fetched and kept.
func TestFarReadBiggerThanTheDisk(t *testing.T) {
	so := fastOpts()
	so.Dir = tmpfsCache(t, "16m")
	so.FreeMargin = -1
	c := testorigin.Content{Seed: 2302, Size: 1 << 30}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	s := e.newStore(t, e.source("huge"))
	for _, off := range []int64{900 * mib, c.Size - 100, 3, c.Size / 2} {
		checkRead(t, s, c, off, min(64<<10, c.Size-off))
	}
	if p := s.Progress(); p.Err != nil || p.State == StateError {
		t.Fatalf("state %s after far reads: %v", p.State, p.Err)
	}
	if use := diskUse(t, s); use > 8*mib+s.m.opts.ChunkSize {
		t.Fatalf("temp file holds %d bytes after four small reads", use)
	}
}

// TestFitsKeepsEverything: a file within the budget is not streamed: read
// once, all of it stays.
func TestFitsKeepsEverything(t *testing.T) {
	so := fastOpts()
	so.MaxSize = 8 * mib
	c := testorigin.Content{Seed: 2303, Size: 4 * mib}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	s := e.newStore(t, e.source("small"))
	checkRead(t, s, c, 0, c.Size)
	if s.big != nil || s.Progress().Streaming != 0 {
		t.Fatal("a file within the budget is streamed")
	}
	if p := s.Progress(); p.Present != c.Size {
		t.Fatalf("%d of %d bytes present after a whole read", p.Present, c.Size)
	}
}

// TestTwoBigFilesShareTheBudget: two files larger than the budget read at
// once get half of it each, and together stay within it.
func TestTwoBigFilesShareTheBudget(t *testing.T) {
	so := fastOpts()
	so.Dir = tmpfsCache(t, "16m")
	so.MaxSize = 8 * mib
	c := testorigin.Content{Seed: 2305, Size: 32 * mib}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	files := []*Store{e.newStore(t, e.source("a")), e.newStore(t, e.source("b"))}
	for _, s := range files {
		if !s.OpenHandle() {
			t.Fatal("OpenHandle refused")
		}
		t.Cleanup(func() { s.ReleaseHandle(context.Background()) })
	}
	bound := so.MaxSize // a hard bound, whatever each is fetching
	const step = 128 << 10
	for pos := int64(0); pos < c.Size; pos += step {
		for _, s := range files {
			checkRead(t, s, c, pos, step)
		}
		if use := diskUse(t, files[0]) + diskUse(t, files[1]); use > bound {
			t.Fatalf("after the reads at %d the two temp files hold %d bytes of disk, more than %d", pos, use, bound)
		}
		if pos > 2*mib {
			for _, s := range files {
				if got, want := s.Progress().Streaming, so.MaxSize/2-so.ChunkSize; got != want {
					t.Fatalf("streaming through %d with two big files reading, want half the budget less a chunk (%d)", got, want)
				}
			}
		}
	}
}

// checkingWriter compares what CopyTo writes with the content from off on,
// and the temp file's disk use with bound after every write.
type checkingWriter struct {
	t     *testing.T
	s     *Store
	c     testorigin.Content
	off   int64
	bound int64
	err   error
}

func (w *checkingWriter) Write(p []byte) (int, error) {
	if w.err == nil && string(p) != string(w.c.Bytes(w.off, int64(len(p)))) {
		w.err = fmt.Errorf("wrong bytes in [%d, +%d)", w.off, len(p))
	}
	if use := diskUse(w.t, w.s); w.err == nil && use > w.bound {
		w.err = fmt.Errorf("at %d the temp file holds %d bytes of disk, more than %d", w.off, use, w.bound)
	}
	w.off += int64(len(p))
	return len(p), w.err
}

// TestCopyToStreams: a WebDAV GET's path (CopyTo, one descriptor of its own
// and runs of up to 4 MiB) through a file four times the disk stays within
// the share too, every byte right.
func TestCopyToStreams(t *testing.T) {
	_, s, c := bigEnv(t, 8*mib)
	w := &checkingWriter{t: t, s: s, c: c, bound: 8 * mib} // the budget
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	n, err := s.CopyTo(ctx, w, 0, c.Size)
	if err != nil || n != c.Size {
		t.Fatalf("CopyTo: %d of %d bytes, %v", n, c.Size, err)
	}
}

// TestCopyToSocketKeepsBytesInFlight: a WebDAV GET's path into a real TCP
// connection whose reader lags, so the bytes CopyTo has handed over are
// still in the socket's buffers when the bytes behind the reader are
// released. sendfile(2) would leave them as references to the temp file's
// page cache, which a hole punch zeroes in place (the file system does it
// for pages the punch covers in part): the client would get zeros. Every
// byte the client receives must be the origin's. On the cache disk of the
// other tests' temp dirs (ext4 here), not a tmpfs: that is where the punch
// zeroed in-flight bytes.
func TestCopyToSocketKeepsBytesInFlight(t *testing.T) {
	so := fastOpts()
	so.MaxSize = 8 * mib
	c := testorigin.Content{Seed: 2302, Size: 64 * mib}
	e := newEnv(t, testorigin.Options{Content: c}, so)
	s := e.newStore(t, e.source("big"))
	if s.big == nil {
		t.Fatal("a 64 MiB file is not streamed through an 8 MiB budget")
	}
	if !s.OpenHandle() {
		t.Fatal("OpenHandle refused")
	}
	defer s.ReleaseHandle(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// An odd start, as a client's Range may ask: the releases behind the
	// reader then cut pages (and larger folios) in part.
	const off, n = 1_000_003, 32 * mib
	copied := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			copied <- err
			return
		}
		defer conn.Close()
		_, err = s.CopyTo(ctx, conn, off, n) // a *net.TCPConn: ReadFrom, sendfile where allowed
		copied <- err
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.(*net.TCPConn).SetReadBuffer(8 * mib) // room for many bytes in flight
	first := make([]byte, mib)
	if _, err := io.ReadFull(client, first); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing more until the bytes after its first MiB,
	// already handed to the socket, have been released from the file.
	eventually(t, "the bytes in flight released from the temp file", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.present.contains(off+mib, off+2*mib)
	})
	rest, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-copied; err != nil {
		t.Fatalf("CopyTo: %v", err)
	}
	got := append(first, rest...)
	if int64(len(got)) != n {
		t.Fatalf("got %d bytes, want %d", len(got), n)
	}
	want := c.Bytes(off, n)
	wrong, at := 0, -1
	for i := range got {
		if got[i] != want[i] {
			if at < 0 {
				at = i
			}
			wrong++
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of %d bytes wrong, the first at %d", wrong, n, off+at)
	}
}
