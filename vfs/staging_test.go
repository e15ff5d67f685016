package vfs_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"fsm/internal/testorigin"
	"fsm/vfs"
)

// TestEntriesWhileProbing: a source is listed as probing while its origin
// has not answered, under its requested name or the URL's last segment,
// and cannot be unstaged until the probe is done.
func TestEntriesWhileProbing(t *testing.T) {
	arrived := make(chan struct{}, 2)
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Length", "3")
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("ETag", `"v1"`)
		if r.Method == http.MethodGet {
			w.Write([]byte("abc"))
		}
	}))
	defer origin.Close()
	defer close(release)
	fsys, _, _ := newFS(t)
	ctx := context.Background()
	done := make(chan error, 2)
	go func() {
		_, err := fsys.Stage(ctx, vfs.Request{URL: origin.URL + "/dir/movie.mkv?sig=secret", Header: http.Header{"authorization": {"Bearer x"}}})
		done <- err
	}()
	go func() {
		_, err := fsys.Stage(ctx, vfs.Request{URL: origin.URL + "/other", Name: "named/one.bin"})
		done <- err
	}()
	<-arrived
	<-arrived
	entries := fsys.Entries()
	if len(entries) != 2 || entries[0].Name != "movie.mkv" || entries[1].Name != "named/one.bin" {
		t.Fatalf("entries while probing: %+v", entries)
	}
	for _, e := range entries {
		if e.State != vfs.StateProbing || e.File != nil || strings.Contains(e.URL, "secret") {
			t.Errorf("probing entry %+v", e)
		}
	}
	if got := entries[0].HeaderNames; len(got) != 1 || got[0] != "Authorization" {
		t.Errorf("header names %v", got)
	}
	if err := fsys.Unstage(ctx, "named/one.bin"); !errors.Is(err, vfs.ErrBusy) {
		t.Errorf("unstage while probing: %v, want ErrBusy", err)
	}
	if _, err := fsys.Stage(ctx, vfs.Request{URL: origin.URL + "/x", Name: "named/one.bin"}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("stage over a probing name: %v, want ErrExist", err)
	}
	release <- struct{}{}
	release <- struct{}{}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range fsys.Entries() {
		if e.State != vfs.StateIdle || e.File == nil || e.File.Size() != 3 || !e.File.Verified() {
			t.Errorf("staged entry %+v", e)
		}
	}
}

// TestFailedSourceStaysListed: with KeepFailure a source that cannot be
// staged stays listed as failed with its reason until unstaged, and a
// later successful staging under the same name supersedes it.
func TestFailedSourceStaysListed(t *testing.T) {
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	good := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}, Name: "/gone.bin"})
	fsys, _, _ := newFS(t)
	ctx := context.Background()
	if _, err := fsys.Stage(ctx, vfs.Request{URL: missing.URL + "/gone.bin", KeepFailure: true}); err == nil {
		t.Fatal("staging a 404 succeeded")
	}
	if _, err := fsys.Stage(ctx, vfs.Request{URL: missing.URL + "/lost.bin"}); err == nil {
		t.Fatal("staging a 404 succeeded")
	}
	e, ok := fsys.Entry("gone.bin")
	if !ok || e.State != vfs.StateFailed || e.Err == nil || !strings.Contains(e.Err.Error(), "404") {
		t.Fatalf("failed entry %+v, %v", e, ok)
	}
	if _, ok := fsys.Entry("lost.bin"); ok {
		t.Error("a failure without KeepFailure is listed")
	}
	if _, err := fsys.Stat("gone.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed entry is in the tree: %v", err)
	}
	if _, err := fsys.Stage(ctx, vfs.Request{URL: good.URL()}); err != nil {
		t.Fatal(err)
	}
	if e, _ := fsys.Entry("gone.bin"); e.State != vfs.StateIdle || len(fsys.Entries()) != 1 {
		t.Fatalf("after staging over it: %+v (%d entries)", e, len(fsys.Entries()))
	}
	if _, err := fsys.Stage(ctx, vfs.Request{URL: missing.URL + "/again.bin", KeepFailure: true}); err == nil {
		t.Fatal("staging a 404 succeeded")
	}
	if err := fsys.Unstage(ctx, "again.bin"); err != nil {
		t.Fatalf("unstage failed entry: %v", err)
	}
	if _, ok := fsys.Entry("again.bin"); ok {
		t.Error("unstaged failed entry still listed")
	}
	if err := fsys.Unstage(ctx, "again.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second unstage: %v", err)
	}
}

// A name from Content-Disposition gets the same rules as one the user
// gives: an untrusted origin cannot spoof "x\u202etxt.exe" as "xexe.txt"
// or slip in a junk element.
func TestOriginNamesAreChecked(t *testing.T) {
	fsys, _, _ := newFS(t)
	for _, cd := range []string{
		"attachment; filename*=UTF-8''x%E2%80%AEtxt.exe",
		`attachment; filename=".DS_Store"`,
		`attachment; filename=" lead.bin"`,
	} {
		o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}, Name: "/dl", ContentDisposition: cd})
		if f, err := fsys.Stage(context.Background(), vfs.Request{URL: o.URL()}); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Content-Disposition %s: staged %v, err %v; want a bad name", cd, f, err)
		}
	}
	if n := len(fsys.Entries()); n != 0 {
		t.Errorf("%d entries after refused names", n)
	}
}
