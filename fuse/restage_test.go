//go:build fuse

package fuse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
)

// restageEnv is a mounted tree whose one name is staged, unstaged and staged
// again from other origin files.
type restageEnv struct {
	t    *testing.T
	fsys *vfs.FS
	dir  string
	name string
	path string
}

func newRestageEnv(t *testing.T) *restageEnv {
	t.Helper()
	return newRestageEnvWith(t, Options{})
}

func newRestageEnvWith(t *testing.T, opts Options) *restageEnv {
	t.Helper()
	requireFUSE(t)
	log := testLogger(t)
	fsys, _ := fsmtest.Tree(t, store.Options{Logger: log})
	e := &restageEnv{t: t, fsys: fsys, dir: t.TempDir(), name: fileName}
	e.path = filepath.Join(e.dir, e.name)
	opts.Logger = log
	mount(t, fsys, e.dir, opts)
	return e
}

// stage stages an origin serving c under the name.
func (e *restageEnv) stage(c testorigin.Content, o testorigin.Options) *vfs.File {
	e.t.Helper()
	o.Content = c
	origin := testorigin.New(e.t, o)
	file, err := e.fsys.Stage(context.Background(), vfs.Request{URL: origin.URL(), Name: e.name})
	if err != nil {
		e.t.Fatal(err)
	}
	return file
}

func (e *restageEnv) unstage() {
	e.t.Helper()
	if err := e.fsys.Unstage(context.Background(), e.name); err != nil {
		e.t.Fatal(err)
	}
}

// readWhole reads the file through the mount twice: the first read brings
// it in (an incomplete file opens direct_io), the second goes through the
// page cache. Both must be c's bytes.
func (e *restageEnv) readWhole(c testorigin.Content, round int) {
	e.t.Helper()
	for pass := 0; pass < 2; pass++ {
		data, err := os.ReadFile(e.path)
		if err != nil {
			e.t.Fatalf("round %d pass %d: %v", round, pass, err)
		}
		if want := c.Bytes(0, c.Size); !bytes.Equal(data, want) {
			e.t.Fatalf("round %d pass %d: read %d bytes, %d of them wrong (want seed %d, %d bytes)", round, pass, len(data), diffCount(data, want), c.Seed, c.Size)
		}
	}
}

func diffCount(got, want []byte) int {
	n := 0
	for i := range got {
		if i >= len(want) || got[i] != want[i] {
			n++
		}
	}
	return n + max(0, len(want)-len(got))
}

// A name staged again from a file of the same size and Last-Modified (the
// kernel sees the same attributes) serves the new file's bytes, never the
// old one's from the page cache.
func TestRestageSameSizeAndMtime(t *testing.T) {
	e := newRestageEnv(t)
	const size = 3<<20 + 4321
	for round := 0; round < 3; round++ {
		c := testorigin.Content{Seed: uint64(100 + round), Size: size}
		e.stage(c, testorigin.Options{})
		e.readWhole(c, round)
		e.unstage()
	}
}

// The README's recovery (unstage, stage again) from an origin without
// validators, within one second: both stagings get the same mtime.
func TestRestageWithoutValidatorsWithinASecond(t *testing.T) {
	e := newRestageEnv(t)
	const size = 1<<20 + 77
	noValidators := testorigin.Options{NoETag: true, NoLastModified: true}
	same := 0
	for round := 0; round < 6 && same < 2; round++ {
		a := testorigin.Content{Seed: uint64(200 + 2*round), Size: size}
		b := testorigin.Content{Seed: uint64(201 + 2*round), Size: size}
		fa := e.stage(a, noValidators)
		e.readWhole(a, round)
		e.unstage()
		fb := e.stage(b, noValidators)
		e.readWhole(b, round)
		e.unstage()
		if fa.ModTime().Equal(fb.ModTime()) {
			same++
		}
	}
	if same == 0 {
		t.Fatal("no round restaged within one second: the test proved nothing")
	}
}

// A handle kept across unstage and restage reads only its own file and
// fstat on it reports its own size, while a handle of the new file reads
// beside it.
func TestRestageOldAndNewHandlesConcurrently(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sizeA      int64
		sizeB      int64
		mtimeOfNew time.Time
	}{
		{"new smaller", 3<<20 + 999, 2<<20 + 17, time.Time{}},
		{"new larger", 1<<20 + 5, 3<<20 + 3, testorigin.DefaultLastModified.Add(time.Hour)},
		{"same size and mtime", 2<<20 + 1, 2<<20 + 1, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRestageEnv(t)
			a := testorigin.Content{Seed: 301, Size: tc.sizeA}
			b := testorigin.Content{Seed: 302, Size: tc.sizeB}
			e.stage(a, testorigin.Options{})
			e.readWhole(a, 0) // complete: the next open goes through the page cache
			old, err := os.Open(e.path)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			readAll(t, old, a, "old handle before restage")
			e.unstage()
			e.stage(b, testorigin.Options{LastModified: tc.mtimeOfNew})
			cur, err := os.Open(e.path)
			if err != nil {
				t.Fatal(err)
			}
			defer cur.Close()

			fstats := func(when string) {
				for _, h := range []struct {
					what string
					f    *os.File
					size int64
				}{{"old", old, tc.sizeA}, {"new", cur, tc.sizeB}} {
					fi, err := h.f.Stat()
					if err != nil {
						t.Errorf("fstat %s handle %s: %v", h.what, when, err)
					} else if fi.Size() != h.size {
						t.Errorf("fstat %s handle %s: size %d, want %d", h.what, when, fi.Size(), h.size)
					}
				}
			}
			fstats("right after the restage")
			start := time.Now()
			readBoth(t, old, a, cur, b, 0, 3*time.Second, 4000)
			// Let the kernel's cached attributes (1 s in libfuse3) expire,
			// if the reads took less: fstat then asks fsm, by the node's
			// name in libfuse.
			time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
			fstats("after the reads")
			if fi, err := os.Stat(e.path); err != nil || fi.Size() != tc.sizeB {
				t.Errorf("stat %s: %v, %v; want size %d", e.path, fi, err, tc.sizeB)
			}
		})
	}
}

func readAll(t *testing.T, f *os.File, c testorigin.Content, what string) {
	t.Helper()
	data, err := io.ReadAll(io.NewSectionReader(f, 0, c.Size+1))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(data, c.Bytes(0, c.Size)) {
		t.Fatalf("%s: %d bytes, %d wrong", what, len(data), diffCount(data, c.Bytes(0, c.Size)))
	}
}

// randomReads reads f at random offsets (some past the end) until d has
// passed or n reads are done, comparing every byte with c.
func randomReads(f *os.File, c testorigin.Content, seed uint64, d time.Duration, n int) error {
	rng := rand.New(rand.NewPCG(seed, 7))
	deadline := time.Now().Add(d)
	buf := make([]byte, 256<<10)
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		off := rng.Int64N(c.Size + 4096)
		k := rng.IntN(len(buf)) + 1
		got, err := f.ReadAt(buf[:k], off)
		want := c.Bytes(off, int64(k))
		if got != len(want) || !bytes.Equal(buf[:got], want) {
			return fmt.Errorf("%s: read %d at %d: %d bytes (%v), want %d; %d wrong", f.Name(), k, off, got, err, len(want), diffCount(buf[:got], want))
		}
		if err != nil && !(errors.Is(err, io.EOF) && len(want) < k) {
			return fmt.Errorf("%s: read %d at %d: %v after %d bytes", f.Name(), k, off, err, got)
		}
	}
	return nil
}

// Without the unlink that gives a re-staged name a new node (it failed, or
// the name was staged again in between), old and new handles share one
// inode: the new one reads past the page cache, and both get their own
// bytes.
func TestRestageSharedNodeFallback(t *testing.T) {
	e := newRestageEnvWith(t, Options{noHide: true})
	const size = 2<<20 + 555
	a := testorigin.Content{Seed: 401, Size: size}
	b := testorigin.Content{Seed: 402, Size: size}
	e.stage(a, testorigin.Options{})
	e.readWhole(a, 0)
	old, err := os.Open(e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	readAll(t, old, a, "old handle before restage")
	e.unstage()
	ob := testorigin.New(t, testorigin.Options{Content: b})
	if _, err := e.fsys.Stage(context.Background(), vfs.Request{URL: ob.URL(), Name: e.name}); err != nil {
		t.Fatal(err)
	}
	// Complete before the mount opens it, or it would open direct_io for
	// that reason alone.
	vh, err := e.fsys.Open(e.name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vh.ReadAt(context.Background(), make([]byte, size), 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	vh.Close()
	cur, err := os.Open(e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	readAll(t, cur, b, "new handle")
	readBoth(t, old, a, cur, b, 10, 2*time.Second, 3000)
}

// readBoth reads the old handle (of a) and the new one (of b) at the same
// time, each at random offsets for d or n reads (randomReads, seeded seed
// and seed+1), and fails t with whatever either read wrong.
func readBoth(t *testing.T, old *os.File, a testorigin.Content, cur *os.File, b testorigin.Content, seed uint64, d time.Duration, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, h := range []struct {
		f *os.File
		c testorigin.Content
	}{{old, a}, {cur, b}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- randomReads(h.f, h.c, seed+uint64(i), d, n)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
