package vfs

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"fsm/internal/testorigin"
	"fsm/store"
)

// afterReadTree is a tree whose files follow policy, acting delay after
// their last close. Its package cannot use fsmtest (which imports it).
func afterReadTree(t *testing.T, policy AfterRead, delay time.Duration) (*FS, string) {
	t.Helper()
	dir := t.TempDir()
	m, err := store.NewManager(store.Options{Dir: dir, RetryBase: time.Millisecond})
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
	return New(Options{Manager: m, AfterRead: policy, AfterReadDelay: delay, CloseTimeout: 5 * time.Second}), dir
}

// waitUntil polls cond, which a timer of the tree's makes true; the
// deadline only turns a hang into a failure.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// read reads [off, off+n) of name through one handle and closes it.
func read(t *testing.T, fsys *FS, name string, off, n int64) []byte {
	t.Helper()
	h, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p := make([]byte, n)
	if _, err := h.ReadAt(context.Background(), p, off); err != nil {
		t.Fatalf("read %s [%d,+%d): %v", name, off, n, err)
	}
	return p
}

// armed reports whether file has an after-read action waiting: the only
// way one is ever taken.
func armed(file *File) bool {
	file.track.mu.Lock()
	defer file.track.mu.Unlock()
	return file.track.timer != nil
}

func tempFilesIn(t *testing.T, dir string) []string {
	t.Helper()
	got, err := filepath.Glob(filepath.Join(dir, "run-*", "*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAfterRead(t *testing.T) {
	const size = 300_001
	c := testorigin.Content{Seed: 31, Size: size}
	tests := []struct {
		name     string
		tree     AfterRead // the tree's default
		own      AfterRead // the file's, given at staging
		reads    [][2]int64
		wantArm  bool
		unstaged bool // else evicted when armed
	}{
		{name: "evict after a whole read", tree: AfterReadEvict, reads: [][2]int64{{0, size}}, wantArm: true},
		{name: "evict after reads in pieces", tree: AfterReadEvict, reads: [][2]int64{{200_000, size - 200_000}, {0, 200_000}}, wantArm: true},
		{name: "unstage after a whole read", tree: AfterReadUnstage, reads: [][2]int64{{0, size}}, wantArm: true, unstaged: true},
		{name: "the file's own policy wins", tree: AfterReadKeep, own: AfterReadUnstage, reads: [][2]int64{{0, size}}, wantArm: true, unstaged: true},
		{name: "partial read is kept", tree: AfterReadEvict, reads: [][2]int64{{0, size - 1}}},
		{name: "partial read in pieces is kept", tree: AfterReadUnstage, reads: [][2]int64{{0, 1000}, {2000, size - 2000}}},
		{name: "keep", tree: AfterReadKeep, reads: [][2]int64{{0, size}}},
		{name: "the file's keep wins", tree: AfterReadEvict, own: AfterReadKeep, reads: [][2]int64{{0, size}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testorigin.New(t, testorigin.Options{Content: c, Name: "/up.bin"})
			fsys, dir := afterReadTree(t, tc.tree, 10*time.Millisecond)
			file, err := fsys.Stage(context.Background(), Request{URL: o.URL(), AfterRead: tc.own})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.reads {
				if got := read(t, fsys, "up.bin", r[0], r[1]); !bytes.Equal(got, c.Bytes(r[0], r[1])) {
					t.Fatalf("read [%d,+%d): wrong bytes", r[0], r[1])
				}
			}
			if !tc.wantArm {
				// Checked at once after the last close: that is when an
				// action is armed, and an unarmed file never acts.
				if armed(file) {
					t.Fatalf("after-read armed for %v reads under %s/%q", tc.reads, tc.tree, tc.own)
				}
				if e, ok := fsys.Entry("up.bin"); !ok || e.Progress.Present == 0 {
					t.Fatalf("file gone or evicted: %+v, %v", e, ok)
				}
				if acts, _ := fsys.Actions(0); len(acts) != 0 {
					t.Fatalf("actions %+v", acts)
				}
				return
			}
			waitUntil(t, "the after-read action", func() bool { acts, _ := fsys.Actions(0); return len(acts) == 1 })
			acts, _ := fsys.Actions(0)
			want := AfterReadEvict
			if tc.unstaged {
				want = AfterReadUnstage
			}
			if a := acts[0]; a.Name != "up.bin" || a.Did != want || a.Bytes != size {
				t.Fatalf("action %+v, want %s of up.bin freeing %d bytes", a, want, size)
			}
			if tc.unstaged {
				if _, ok := fsys.Entry("up.bin"); ok {
					t.Fatal("still staged after unstage")
				}
				waitUntil(t, "the temp file removed", func() bool { return len(tempFilesIn(t, dir)) == 0 })
				return
			}
			e, ok := fsys.Entry("up.bin")
			if !ok || e.Progress.Present != 0 || e.State != StateIdle {
				t.Fatalf("after evict: staged %v, %d bytes present, state %s; want staged, 0, idle", ok, e.Progress.Present, e.State)
			}
			before := o.BytesServed()
			if got := read(t, fsys, "up.bin", 0, size); !bytes.Equal(got, c.Bytes(0, size)) {
				t.Fatal("read after evict: wrong bytes")
			}
			if o.BytesServed() == before {
				t.Fatal("read after evict did not download again")
			}
		})
	}
}

// A new open within the delay calls the action off; closing it arms it
// again, since every byte has still been served.
func TestAfterReadReopenWaits(t *testing.T) {
	c := testorigin.Content{Seed: 32, Size: 5000}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/again.bin"})
	fsys, _ := afterReadTree(t, AfterReadUnstage, time.Hour)
	file, err := fsys.Stage(context.Background(), Request{URL: o.URL()})
	if err != nil {
		t.Fatal(err)
	}
	read(t, fsys, "again.bin", 0, c.Size)
	if !armed(file) {
		t.Fatal("not armed after a whole read")
	}
	h, err := fsys.Open("again.bin")
	if err != nil {
		t.Fatal(err)
	}
	if armed(file) {
		t.Fatal("still armed while open again")
	}
	h.Close()
	if !armed(file) {
		t.Fatal("not armed again after the new handle closed")
	}
	fsys.afterRead(file, file.track.gen-1) // a timer of before the reopen
	if _, ok := fsys.Entry("again.bin"); !ok {
		t.Fatal("a stale action unstaged the file")
	}
}
