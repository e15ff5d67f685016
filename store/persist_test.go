package store

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// persistManager opens a persistent manager on dir; the test closes it.
func persistManager(t *testing.T, dir string, tr http.RoundTripper) *Manager {
	t.Helper()
	so := fastOpts()
	so.Dir, so.Persist, so.Logger = dir, true, quietLogger()
	so.Client = &http.Client{Transport: tr}
	m, err := NewManager(so)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func closeManager(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func savedBytes(sv Saved) (n int64) {
	for _, r := range sv.Ranges {
		n += r[1] - r[0]
	}
	return n
}

// A store closed by a persistent manager's shutdown keeps its temp file and
// ranges; the next manager resumes it with those bytes, fetches only what
// is missing (a file without validators: streams it again, compared with
// what is kept), and a file changed meanwhile fails as changed, with or
// without validators (then through the kept bytes and block checksums).
func TestPersistResume(t *testing.T) {
	for _, tc := range []struct {
		name     string
		oo       testorigin.Options
		change   bool
		verified bool
	}{
		{"validators", testorigin.Options{}, false, true},
		{"validators, changed while down", testorigin.Options{}, true, true},
		{"no validators", testorigin.Options{NoETag: true, NoLastModified: true}, false, false},
		{"no validators, changed while down", testorigin.Options{NoETag: true, NoLastModified: true}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testorigin.Content{Seed: 41, Size: 4<<20 + 17}
			tc.oo.Content = c
			tc.oo.SharedBytesPerSecond = 2 << 20 // the fill is still running at close
			o := testorigin.New(t, tc.oo)
			tr := originTransport()
			t.Cleanup(tr.CloseIdleConnections)
			dir := t.TempDir()

			m1 := persistManager(t, dir, tr)
			_, etag, lm := o.Version()
			if !tc.verified {
				etag, lm = "", time.Time{} // what a probe of it finds
			}
			src := testSource{Name: "f", URL: o.URL(), Size: c.Size, ETag: etag, LastModified: lm}
			s1, err := m1.create(src.split())
			if err != nil {
				t.Fatal(err)
			}
			checkRead(t, s1, c, 0, 1<<20)
			if rem := s1.Remote(); rem.Verified() != tc.verified {
				t.Fatalf("Verified %v", rem.Verified())
			}
			closeManager(t, m1)
			sv := s1.Checkpoint()
			kept := savedBytes(sv)
			if kept < 1<<20 || kept >= c.Size {
				t.Fatalf("kept %d bytes at close; want a part from 1 MiB of %d", kept, c.Size)
			}
			if !fileExists(filepath.Join(dir, filesDirName, sv.Temp)) {
				t.Fatalf("temp file %s removed at a persistent shutdown", sv.Temp)
			}
			if !tc.verified && len(sv.Sums) == 0 {
				t.Fatalf("no block checksums kept for a file without validators")
			}
			if !sv.Downloading {
				t.Errorf("a store closed during its fill is not saved as downloading")
			}
			if tc.change {
				o.Change()
			}

			before := len(o.Requests())
			m2 := persistManager(t, dir, tr)
			defer closeManager(t, m2)
			source, rem := src.split()
			s2, err := m2.Resume(source, rem, sv)
			if err != nil {
				t.Fatal(err)
			}
			if p := s2.Progress(); p.Present < kept {
				t.Fatalf("resumed with %d bytes present; %d were kept", p.Present, kept)
			}
			if tc.change {
				if _, err := readAt(t, s2, 0, c.Size); !errors.Is(err, ErrChanged) {
					t.Fatalf("read of a file changed while down: %v; want ErrChanged", err)
				}
				return
			}
			checkRead(t, s2, c, 0, c.Size)
			var sent int64
			for _, r := range o.Requests()[before:] {
				sent += r.BytesSent
				if tc.verified && r.Range != "" && r.IfRange != etag {
					t.Errorf("fetch after resume with If-Range %q; want %s", r.IfRange, etag)
				}
			}
			want := c.Size - kept // only what is missing
			if !tc.verified {
				want = c.Size // one stream from byte 0, compared where kept
			}
			if sent < want || sent > want+256<<10 {
				t.Errorf("origin sent %d bytes after resume; want about %d", sent, want)
			}
		})
	}
}

// One process owns a persistent cache dir: a second manager on it gets a
// *HeldError naming the owner, until the first closes.
func TestPersistOwner(t *testing.T) {
	dir := t.TempDir()
	tr := originTransport()
	m1 := persistManager(t, dir, tr)
	so := Options{Dir: dir, Persist: true, Logger: quietLogger()}
	_, err := NewManager(so)
	var held *HeldError
	if !errors.As(err, &held) || held.PID != os.Getpid() {
		t.Fatalf("second manager: %v; want a HeldError naming pid %d", err, os.Getpid())
	}
	// Sharing without persistence stays possible.
	so.Persist = false
	m, err := NewManager(so)
	if err != nil {
		t.Fatalf("non-persistent manager beside a persistent one: %v", err)
	}
	closeManager(t, m)
	closeManager(t, m1)
	m2 := persistManager(t, dir, tr)
	closeManager(t, m2)
}

// At start, temp files no resumed store uses are removed; an unstaged
// store's temp file goes even at a persistent shutdown; a missing temp
// file resumes as an empty store.
func TestPersistTempFiles(t *testing.T) {
	c := testorigin.Content{Seed: 42, Size: 300 << 10}
	o := testorigin.New(t, testorigin.Options{Content: c})
	tr := originTransport()
	t.Cleanup(tr.CloseIdleConnections)
	dir := t.TempDir()
	m1 := persistManager(t, dir, tr)
	_, etag, lm := o.Version()
	src := testSource{Name: "f", URL: o.URL(), Size: c.Size, ETag: etag, LastModified: lm}
	keep, err := m1.create(src.split())
	if err != nil {
		t.Fatal(err)
	}
	checkRead(t, keep, c, 0, c.Size)
	gone, err := m1.create(src.split())
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Unstage(context.Background()); err != nil {
		t.Fatal(err)
	}
	closeManager(t, m1)
	if fileExists(gone.path) {
		t.Errorf("an unstaged store's temp file survived the shutdown")
	}
	sv := keep.Checkpoint()
	if savedBytes(sv) != c.Size {
		t.Fatalf("complete store kept %d bytes, want %d", savedBytes(sv), c.Size)
	}
	stray := filepath.Join(dir, filesDirName, "stray.part")
	if err := os.WriteFile(stray, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	m2 := persistManager(t, dir, tr)
	defer closeManager(t, m2)
	source, rem := src.split()
	s, err := m2.Resume(source, rem, sv)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := m2.Resume(source, rem, Saved{Temp: "nonexistent.part", Ranges: [][2]int64{{0, c.Size}}})
	if err != nil {
		t.Fatal(err)
	}
	m2.PruneTemps()
	if fileExists(stray) {
		t.Errorf("a temp file no store uses survived the start")
	}
	if p := s.Progress(); p.State != StateComplete {
		t.Errorf("resumed complete store: %+v", p)
	}
	if p := missing.Progress(); p.Present != 0 {
		t.Errorf("store resumed without its temp file claims %d bytes", p.Present)
	}
	before := len(o.Requests())
	checkRead(t, s, c, 0, c.Size)
	if n := len(o.Requests()) - before; n != 0 {
		t.Errorf("%d origin requests for a resumed complete file", n)
	}
	checkRead(t, missing, c, 0, c.Size)
}

// A checkpoint holds what is present; after an eviction it holds nothing,
// even though the temp file is still there.
func TestCheckpointFollowsEviction(t *testing.T) {
	c := testorigin.Content{Seed: 43, Size: 200 << 10}
	e := newEnv(t, testorigin.Options{Content: c}, Options{Persist: true})
	s := e.newStore(t, e.source("f"))
	if sv := s.Checkpoint(); len(sv.Ranges) != 0 || sv.Temp != filepath.Base(s.path) {
		t.Fatalf("fresh store's checkpoint: %+v", sv)
	}
	checkRead(t, s, c, 0, c.Size)
	sv := s.Checkpoint()
	if len(sv.Ranges) != 1 || sv.Ranges[0] != [2]int64{0, c.Size} || sv.Downloading {
		t.Fatalf("complete store's checkpoint: %+v", sv)
	}
	if n := s.evict(); n == 0 {
		t.Fatal("nothing evicted")
	}
	if sv := s.Checkpoint(); len(sv.Ranges) != 0 {
		t.Fatalf("checkpoint after eviction still names %v", sv.Ranges)
	}
}
