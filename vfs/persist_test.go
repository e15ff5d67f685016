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

// A staged folder comes back from the state with its files: it is listed
// as a folder again, a refresh knows which files it holds, and it is
// unstaged whole.
func TestSavedRestoreFolder(t *testing.T) {
	o := newHeldOrigin(t, "")
	l := &listing{base: o.URL}
	l.set("a.txt", "sub/b.txt")
	dir := t.TempDir()
	ctx := context.Background()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()

	m1, err := store.NewManager(store.Options{Dir: dir, Persist: true})
	if err != nil {
		t.Fatal(err)
	}
	fs1 := vfs.New(vfs.Options{Manager: m1, List: l.list})
	req := vfs.FolderRequest{URL: o.URL + "/?sig=s", Name: "media", Depth: 2, Header: http.Header{"Cookie": {"k=v"}}}
	if _, _, err := fs1.StageFolder(ctx, req); err != nil {
		t.Fatal(err)
	}
	waitQueue(t, fs1)
	fs1.Close()
	if err := m1.Close(cctx); err != nil {
		t.Fatal(err)
	}
	saved := fs1.Saved()
	if len(saved) != 2 {
		t.Fatalf("saved %d files, want the folder's 2", len(saved))
	}
	for _, sf := range saved {
		if sf.Folder == nil || sf.Folder.Name != "media" || sf.Folder.URL != req.URL || sf.Folder.Depth != 2 || sf.Folder.Header.Get("Cookie") != "k=v" || sf.Folder.Link == "" {
			t.Fatalf("%s saved with folder %+v", sf.Name, sf.Folder)
		}
	}

	m2, err := store.NewManager(store.Options{Dir: dir, Persist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(cctx)
	fs2 := vfs.New(vfs.Options{Manager: m2, List: l.list})
	if n := fs2.Restore(saved); n != 2 {
		t.Fatalf("restored %d files, want 2", n)
	}
	folders := fs2.Folders()
	if len(folders) != 1 || folders[0].Name != "media" || folders[0].Depth != 2 {
		t.Fatalf("folders after restore: %+v", folders)
	}
	// A refresh from the same index keeps both and adds nothing.
	if _, refreshed, err := fs2.StageFolder(ctx, vfs.FolderRequest{URL: req.URL, Name: "media", Depth: 2}); err != nil || !refreshed {
		t.Fatalf("refresh after restore: refreshed %v, %v", refreshed, err)
	}
	waitQueue(t, fs2)
	if got := names(fs2); got != "media/a.txt=idle media/sub/b.txt=idle" {
		t.Errorf("after the refresh: %s", got)
	}
	if err := fs2.UnstageFolder(ctx, "media"); err != nil {
		t.Fatal(err)
	}
	if got := names(fs2); got != "" {
		t.Errorf("after unstaging the folder: %s", got)
	}
}
