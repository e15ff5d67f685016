package vfs_test

import (
	"context"
	"strings"
	"testing"

	"fsm/internal/testorigin"
	"fsm/vfs"
)

// A listing never shows a source's query string, but says one is there, so
// a user can tell a signed URL from a plain one; probing and failed entries
// too.
func TestEntryMarksAHiddenQuery(t *testing.T) {
	fsys, _, _ := newFS(t)
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 3, Size: 100}})
	ctx := context.Background()
	if _, err := fsys.Stage(ctx, vfs.Request{URL: o.URL() + "?sig=SECRET", Name: "signed.bin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stage(ctx, vfs.Request{URL: o.URL(), Name: "plain.bin"}); err != nil {
		t.Fatal(err)
	}
	fsys.ListFailed(vfs.Request{URL: "http://127.0.0.1:1/x?token=SECRET"}, "failed.bin", context.Canceled)
	want := map[string]bool{"signed.bin": true, "plain.bin": false, "failed.bin": true}
	for _, e := range fsys.Entries() {
		q, ok := want[e.Name]
		if !ok {
			continue
		}
		delete(want, e.Name)
		if e.URLQuery != q || strings.Contains(e.URL, "SECRET") || strings.Contains(e.URL, "?") {
			t.Errorf("%s: URL %q, query %v; want no query shown and query %v", e.Name, e.URL, e.URLQuery, q)
		}
	}
	if len(want) != 0 {
		t.Errorf("not listed: %v", want)
	}
}
