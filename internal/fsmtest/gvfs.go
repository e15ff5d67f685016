//go:build linux

package fsmtest

import (
	"context"
	"testing"
	"time"

	"fsm/internal/fsmtest/gvfs"
)

// GvfsSession is a private D-Bus session bus with gvfsd on it (see package
// gvfs), tied to a test: it is stopped at cleanup, whatever it left behind
// fails the test, and its log is printed when the test failed.
type GvfsSession struct {
	*gvfs.Session
	log *Buffer
}

// GvfsFuse says whether gvfsd starts gvfsd-fuse, which gives mounts their
// local paths.
type GvfsFuse = gvfs.Fuse

const (
	WithFuse    = gvfs.WithFuse
	WithoutFuse = gvfs.WithoutFuse // as on a machine without the gvfs-fuse package
)

// Gio runs gio with the session's environment, bounded, and returns its
// standard output (standard error goes to the session log and the error).
func (s *GvfsSession) Gio(args ...string) ([]byte, error) {
	return s.Session.Gio(context.Background(), args...)
}

// NewGvfsSession starts a private session bus and gvfsd, and registers the
// cleanup that leaves no process and no mount of the session behind. It
// skips (fails under CI) when gvfs, dbus or /dev/fuse is missing.
func NewGvfsSession(t testing.TB) *GvfsSession { return NewGvfsSessionFuse(t, WithFuse) }

// NewGvfsSessionFuse is NewGvfsSession with or without gvfsd-fuse.
func NewGvfsSessionFuse(t testing.TB, fuse GvfsFuse) *GvfsSession {
	t.Helper()
	Require(t, "gvfs", gvfs.Missing())
	log := &Buffer{}
	// The deadline only turns a hang into a failure, as in Eventually.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := gvfs.Start(ctx, fuse, log)
	if err != nil {
		t.Fatalf("gvfs session: %v\nlog:\n%s", err, log.String())
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("gvfs session log:\n%s", log.String())
		}
	})
	return &GvfsSession{Session: s, log: log}
}
