package vfs_test

import (
	"context"
	"testing"

	"fsm/internal/testorigin"
	"fsm/vfs"
)

// OnUnstage's functions see each unstaged file before Unstage returns, with
// the name already gone, and no more once removed.
func TestOnUnstage(t *testing.T) {
	fsys, _, _ := newFS(t)
	origin := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 1000}}).URL()
	var seen []string
	remove := fsys.OnUnstage(func(file *vfs.File) {
		if _, err := fsys.Stat(file.Path()); err == nil {
			t.Errorf("%s still in the tree when the hook runs", file.Path())
		}
		seen = append(seen, file.Path())
	})
	for _, name := range []string{"a.bin", "b.bin"} {
		if _, err := fsys.Stage(context.Background(), vfs.Request{URL: origin, Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fsys.Unstage(context.Background(), "a.bin"); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "a.bin" {
		t.Fatalf("hook saw %q after unstaging a.bin", seen)
	}
	remove()
	if err := fsys.Unstage(context.Background(), "b.bin"); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Errorf("removed hook still called: %q", seen)
	}
}
