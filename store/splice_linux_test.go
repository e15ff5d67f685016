package store

import (
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"

	"fsm/internal/testorigin"
)

// envSplicing is an env whose origin client splices through sp.
func envSplicing(t *testing.T, c testorigin.Content, sp *splicing) *env {
	t.Helper()
	tr := originTransport()
	tr.DialContext = sp.dialer(&net.Dialer{})
	t.Cleanup(tr.CloseIdleConnections)
	so := fastOpts()
	so.Client = &http.Client{Transport: tr}
	return newEnv(t, testorigin.Options{Content: c}, so)
}

// A file system that cannot take splices (EINVAL from the first one) turns
// splicing off for good; the bytes the pipe already held reach the file
// through the copy loop, and the reader gets every byte right.
func TestSpliceUnsupportedFallsBack(t *testing.T) {
	c := testorigin.Content{Seed: 63, Size: 2<<20 + 9}
	var calls atomic.Int32
	sp := &splicing{toFile: func(pipe, fd int, off *int64, n int) (int64, error) {
		calls.Add(1)
		return 0, syscall.EINVAL
	}}
	e := envSplicing(t, c, sp)
	s := e.newStore(t, e.source("f"))
	checkRead(t, s, c, 0, c.Size)
	tried := calls.Load()
	if tried == 0 {
		t.Fatal("no splice into the file was tried")
	}
	if !sp.off.Load() {
		t.Error("splicing still on after EINVAL")
	}
	if n := s.spliced.Load(); n != 0 {
		t.Errorf("%d bytes counted as spliced, want none", n)
	}
	// Off for good: a second file over the same client tries none.
	o2 := testorigin.New(t, testorigin.Options{Content: c})
	_, etag, lm := o2.Version()
	s2 := e.newStore(t, testSource{Name: "g", URL: o2.URL(), Size: c.Size, ETag: etag, LastModified: lm})
	checkRead(t, s2, c, 0, c.Size)
	if n := calls.Load(); n != tried {
		t.Errorf("%d more splices into the file tried after splicing was turned off", n-tried)
	}
}

// A file that fills up under a splice fails the read with ErrNoSpace, as a
// write would, not as an origin error to retry.
func TestSpliceNoSpace(t *testing.T) {
	c := testorigin.Content{Seed: 64, Size: 2 << 20}
	sp := &splicing{toFile: func(pipe, fd int, off *int64, n int) (int64, error) {
		if *off >= 1<<20 {
			return 0, syscall.ENOSPC
		}
		return spliceToFile(pipe, fd, off, min(n, 1<<20-int(*off)))
	}}
	e := envSplicing(t, c, sp)
	s := e.newStore(t, e.source("f"))
	checkRead(t, s, c, 0, 512<<10)
	_, err := readAt(t, s, 0, c.Size)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("read past a full disk: %v, want ErrNoSpace", err)
	}
	if sp.off.Load() {
		t.Error("a full disk turned splicing off; it is not a lack of support")
	}
}
