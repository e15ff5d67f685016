package vfs_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
)

// Staging beyond MaxFiles fails with ErrTooMany, named or not, without
// asking the origin; stagings in progress count; an unstage makes room.
func TestMaxFiles(t *testing.T) {
	m, err := store.NewManager(store.Options{Dir: t.TempDir(), RetryBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	fsys := vfs.New(vfs.Options{Manager: m, MaxFiles: 2})
	ctx := context.Background()
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}, Name: "/a.bin"})
	// slow answers its probe when told to, and says when it has one.
	arrived, answer := make(chan struct{}, 1), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-answer
		w.Header().Set("Content-Length", "10")
	}))
	t.Cleanup(slow.Close)
	if _, err := fsys.Stage(ctx, vfs.Request{URL: o.URL()}); err != nil {
		t.Fatal(err)
	}
	// A second staging holds its name while its probe waits.
	done := make(chan error, 1)
	go func() { _, err := fsys.Stage(ctx, vfs.Request{URL: slow.URL + "/b.bin", Name: "b.bin"}); done <- err }()
	<-arrived

	probes := o.Count("HEAD") + o.Count("GET")
	for _, name := range []string{"c.bin", ""} {
		_, err := fsys.Stage(ctx, vfs.Request{URL: o.URL(), Name: name})
		if !errors.Is(err, vfs.ErrTooMany) {
			t.Errorf("Stage(%q) at the limit = %v, want ErrTooMany", name, err)
		}
	}
	if n := o.Count("HEAD") + o.Count("GET"); n != probes {
		t.Errorf("the origin was asked %d more times by refused stagings", n-probes)
	}
	close(answer)
	if err := <-done; err != nil {
		t.Fatalf("b.bin: %v", err)
	}
	if err := fsys.Unstage(ctx, "a.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stage(ctx, vfs.Request{URL: o.URL(), Name: "c.bin"}); err != nil {
		t.Errorf("Stage after an unstage made room: %v", err)
	}
}
