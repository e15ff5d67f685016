package vfs_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"fsm/internal/testorigin"
	"fsm/vfs"
)

// A source that failed to stage (kept listed, as fsm serve's are) is
// staged again by Retry, with its headers, once its origin answers.
func TestRetryStagesAFailedSourceAgain(t *testing.T) {
	c := testorigin.Content{Seed: 5, Size: 4096}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/a.bin", NoHEAD: true, FailCount: 1 << 20})
	fsys, _, _ := newFS(t)
	ctx := context.Background()
	req := vfs.Request{URL: o.URL(), Name: "a.bin", Header: http.Header{"Authorization": {"Bearer t"}}, KeepFailure: true}
	if _, err := fsys.Stage(ctx, req); err == nil {
		t.Fatal("staging from a failing origin succeeded")
	}
	if e, ok := fsys.Entry("a.bin"); !ok || e.State != vfs.StateFailed {
		t.Fatalf("after the failure: %+v, %v; want it listed as failed", e, ok)
	}
	o.SetFailCount(0)
	f, err := fsys.Retry(ctx, "a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if f.Path() != "a.bin" || f.Size() != c.Size {
		t.Fatalf("retried file %s of %d bytes", f.Path(), f.Size())
	}
	reqs := o.Requests()
	if got := reqs[len(reqs)-1].Header.Get("Authorization"); got != "Bearer t" {
		t.Fatalf("the retry sent Authorization %q, want the staged header", got)
	}
	if _, err := fsys.Retry(ctx, "a.bin"); !errors.Is(err, vfs.ErrNotFailing) {
		t.Fatalf("retry of a staged file: %v, want ErrNotFailing", err)
	}
}
