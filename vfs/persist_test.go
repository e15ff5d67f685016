package vfs_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"fsm/internal/testorigin"
	"fsm/state"
	"fsm/store"
	"fsm/vfs"
)

// What Saved records, Restore puts back on a new manager over the same
// persistent cache dir: same name, URL, size, mtime, ETag, content type
// and header names, without any origin request. A saved file whose name is
// taken by then is left out; the others still come back.
func TestSavedRestore(t *testing.T) {
	c := testorigin.Content{Seed: 51, Size: 70_000}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/v/clip.mp4"})
	dir := t.TempDir()
	ctx := context.Background()

	m1, err := store.NewManager(store.Options{Dir: dir, Persist: true})
	if err != nil {
		t.Fatal(err)
	}
	fs1 := vfs.New(vfs.Options{Manager: m1})
	hdr := http.Header{"Cookie": {"k=v"}}
	f1, err := fs1.Stage(ctx, vfs.Request{URL: o.URL(), Name: "a/clip.mp4", Header: hdr})
	if err != nil {
		t.Fatal(err)
	}
	fs1.Close()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := m1.Close(cctx); err != nil {
		t.Fatal(err)
	}
	saved := fs1.Saved()
	if len(saved) != 1 || saved[0].Header.Get("Cookie") != "k=v" {
		t.Fatalf("saved %+v", saved)
	}

	before := len(o.Requests())
	m2, err := store.NewManager(store.Options{Dir: dir, Persist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(cctx)
	fs2 := vfs.New(vfs.Options{Manager: m2})
	other := saved[0]
	other.Name = "b.bin"
	if n := fs2.Restore([]state.File{saved[0], saved[0], other}); n != 2 {
		t.Fatalf("restored %d files, want 2 (the repeated name left out)", n)
	}
	info, err := fs2.Stat("a/clip.mp4")
	if err != nil {
		t.Fatal(err)
	}
	want := vfs.Info{Path: f1.Path(), Size: f1.Size(), ModTime: f1.ModTime(), ETag: f1.ETag(), ContentType: f1.ContentType()}
	if info != want {
		t.Errorf("restored %+v, staged %+v", info, want)
	}
	e, _ := fs2.Entry("a/clip.mp4")
	if e.URL != f1.URL() || len(e.HeaderNames) != 1 || e.HeaderNames[0] != "Cookie" {
		t.Errorf("restored entry %+v", e)
	}
	if same, staged := fs2.StagedFrom("a/clip.mp4", o.URL()); !same || !staged {
		t.Errorf("StagedFrom: same %v, staged %v", same, staged)
	}
	if n := len(o.Requests()) - before; n != 0 {
		t.Errorf("restore asked the origin %d times", n)
	}
}
