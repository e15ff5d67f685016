package vfs_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/vfs"
)

// TestEntriesWhileProbing: a source is listed as probing while its origin
// has not answered, under its requested name or the URL's last segment;
// unstaging it ends its staging, which fails, and leaves the name free.
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
	if _, err := fsys.Stage(ctx, vfs.Request{URL: origin.URL + "/x", Name: "named/one.bin"}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("stage over a probing name: %v, want ErrExist", err)
	}
	if err := fsys.Unstage(ctx, "named/one.bin"); err != nil {
		t.Errorf("unstage while probing: %v", err)
	}
	if _, ok := fsys.Entry("named/one.bin"); ok {
		t.Error("a source unstaged while probing is still listed")
	}
	release <- struct{}{}
	release <- struct{}{}
	failed := 0
	for range 2 {
		if err := <-done; err != nil {
			if !strings.Contains(err.Error(), "unstaged while being staged") {
				t.Fatal(err)
			}
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d stagings failed, want the unstaged one", failed)
	}
	entries = fsys.Entries()
	if len(entries) != 1 || entries[0].Name != "movie.mkv" {
		t.Fatalf("entries after unstaging one while probing: %+v", entries)
	}
	for _, e := range entries {
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

// TestUnstageWhileDownloadingWhole: a source of unknown size given at start
// that trickles bytes without end is listed as downloading, with its bytes
// so far and no size, while it downloads whole and before it is in the
// tree; unstaging it cancels that download (the origin sees the request
// end), leaves no temp file and no listing, and frees the name.
func TestUnstageWhileDownloadingWhole(t *testing.T) {
	sent := make(chan struct{}, 1)
	gone := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusOK) // a HEAD without a size
			return
		}
		if r.Header.Get("Range") == "" { // not the probe's one-byte GET, which this origin answers alike
			defer close(gone)
		}
		w.WriteHeader(http.StatusOK) // chunked: no size, no Range
		for {
			if _, err := w.Write(make([]byte, 512)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case sent <- struct{}{}:
			default:
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
	}))
	defer origin.Close()
	fsys, _, dir := newFS(t)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := fsys.Stage(ctx, vfs.Request{URL: origin.URL + "/endless.bin", KeepFailure: true})
		done <- err
	}()
	<-sent
	<-sent // the whole download is under way
	fsmtest.Eventually(t, "the whole download listed with its first bytes", func() bool {
		e, ok := fsys.Entry("endless.bin")
		return ok && e.Progress.Present >= 512
	})
	if e, _ := fsys.Entry("endless.bin"); e.State != vfs.StateDownloading || e.File != nil || e.Progress.Size != -1 || e.Progress.Conns != 1 || e.Progress.Protocol != "http/1.1" {
		t.Fatalf("while downloading whole: %+v", e)
	}
	if _, err := fsys.Stat("endless.bin"); err == nil {
		t.Error("in the tree before its size is known")
	}
	if err := fsys.Unstage(ctx, "endless.bin"); err != nil {
		t.Fatalf("unstage while downloading whole: %v", err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "unstaged while being staged") {
		t.Fatalf("staging after unstage: %v", err)
	}
	<-gone
	if _, ok := fsys.Entry("endless.bin"); ok {
		t.Error("still listed after unstage")
	}
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
	if err := fsys.Unstage(ctx, "endless.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second unstage: %v, want ErrNotExist", err)
	}
}
