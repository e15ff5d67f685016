//go:build linux

// Package gvfs runs GNOME gvfs as a real desktop WebDAV client, without a
// desktop: a private D-Bus session bus and the master daemon gvfsd, neither
// of which needs a display. It is the core both the tests (through fsmtest,
// which adds testing.TB) and the bench (which has none) use.
//
// The session's dbus-daemon listens on a socket in a private
// XDG_RUNTIME_DIR, and gvfsd runs on that bus; gvfsd starts gvfsd-fuse
// (which mounts $XDG_RUNTIME_DIR/gvfs) and one gvfsd-dav per mount. Every
// process of the session has the private XDG_RUNTIME_DIR in its environment
// (the bus hands its own environment to the services it activates), which
// is how Stop finds them all.
package gvfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"fsm/internal/mountinfo"
	"fsm/internal/proc"
)

// GvfsdPath is where Debian's gvfs package installs the master daemon.
const GvfsdPath = "/usr/libexec/gvfsd"

// Fuse says whether gvfsd starts gvfsd-fuse, which gives mounts their
// local paths.
type Fuse int

const (
	WithFuse    Fuse = iota
	WithoutFuse      // as on a machine without the gvfs-fuse package
)

// Missing says what this machine lacks to run a session, or nil.
func Missing() error {
	for _, n := range []string{"dbus-daemon", "dbus-send", "gio", "fusermount3"} {
		if _, err := exec.LookPath(n); err != nil {
			return fmt.Errorf("%s is not installed (Debian packages dbus, libglib2.0-bin, fuse3): %w", n, err)
		}
	}
	for _, p := range []string{GvfsdPath, "/usr/libexec/gvfsd-dav", "/usr/libexec/gvfsd-fuse"} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("gvfs (Debian packages gvfs, gvfs-backends, gvfs-fuse): %w", err)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("gvfsd-fuse needs /dev/fuse: %w", err)
	}
	return nil
}

// Session is a private D-Bus session bus with gvfsd on it.
type Session struct {
	Runtime string   // its XDG_RUNTIME_DIR
	Env     []string // the whole environment for a process of the session
	log     io.Writer
	bus     *daemon // nil until started
	gvfsd   *daemon
	stopped bool
}

// FuseDir is where gvfsd-fuse shows the session's mounts.
func (s *Session) FuseDir() string { return filepath.Join(s.Runtime, "gvfs") }

// Logf adds a line to the session log.
func (s *Session) Logf(format string, args ...any) { fmt.Fprintf(s.log, format+"\n", args...) }

// Start starts a private session bus and gvfsd (and, WithFuse, waits for
// gvfsd-fuse's mount), logging every process's output to log. On error
// it has stopped whatever it started; otherwise the caller must Stop the
// session. ctx bounds the start.
func Start(ctx context.Context, fuse Fuse, log io.Writer) (*Session, error) {
	// A short path: the bus socket must fit in sun_path.
	runtime, err := os.MkdirTemp("", "fsm-gvfs-")
	if err != nil {
		return nil, fmt.Errorf("gvfs session dir: %w", err)
	}
	s := &Session{Runtime: runtime, log: log}
	if err := s.start(ctx, fuse); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

func (s *Session) start(ctx context.Context, fuse Fuse) error {
	var bus string
	var err error
	if s.Env, bus, err = proc.SessionEnv(s.Runtime); err != nil {
		return err
	}
	if fuse == WithoutFuse {
		s.Env = append(s.Env, "GVFS_DISABLE_FUSE=1")
	}
	if s.bus, err = s.startDaemon("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address="+bus); err != nil {
		return err
	}
	if err := s.waitFor(ctx, "the private session bus", func() bool {
		_, err := os.Stat(filepath.Join(s.Runtime, "bus"))
		return err == nil
	}); err != nil {
		return err
	}
	if s.gvfsd, err = s.startDaemon(GvfsdPath, "--replace"); err != nil {
		return err
	}
	if err := s.waitFor(ctx, "gvfsd on the session bus", s.gvfsdOnBus); err != nil {
		return err
	}
	if fuse == WithFuse {
		return s.waitFor(ctx, "gvfsd-fuse to mount "+s.FuseDir(), func() bool { return mountinfo.Mounted(s.FuseDir()) })
	}
	return nil
}

// gvfsdOnBus asks the bus whether gvfsd has taken its name.
func (s *Session) gvfsdOnBus() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dbus-send", "--session", "--print-reply",
		"--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.gtk.vfs.Daemon")
	cmd.Env = s.Env
	out, err := cmd.CombinedOutput()
	return err == nil && bytes.Contains(out, []byte("boolean true"))
}

// waitFor polls cond until it holds, a daemon of the session dies or ctx
// ends: state other processes reach without telling us.
func (s *Session) waitFor(ctx context.Context, what string, cond func() bool) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		for _, d := range []*daemon{s.bus, s.gvfsd} {
			if d != nil && d.exited() {
				return fmt.Errorf("waiting for %s: %s exited: %v", what, d.name, d.err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Gio runs gio with the session's environment, bounded by ctx and a
// minute, and returns its standard output (standard error goes to the
// session log and the error).
func (s *Session) Gio(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gio", args...)
	cmd.Env = s.Env
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	s.Logf("$ gio %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	if err != nil {
		return out, fmt.Errorf("gio %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// leftoverGrace is how long the session's other processes get to leave on
// their own once the bus is gone.
const leftoverGrace = 10 * time.Second

// Stop ends the session: gvfsd first, while it can still tell its mounts
// to go, then the bus; then it waits for every other process of the
// session to leave. What is still running after leftoverGrace is killed,
// and a gvfsd-fuse mount still there is detached; both are reported in the
// error, since a clean session leaves nothing. Stop is idempotent.
func (s *Session) Stop() error {
	if s.stopped {
		return nil
	}
	s.stopped = true
	for _, d := range []*daemon{s.gvfsd, s.bus} {
		if d != nil {
			d.stop(s.log)
		}
	}
	var errs []error
	deadline := time.Now().Add(leftoverGrace)
	for pids := s.pids(); len(pids) > 0; pids = s.pids() {
		if time.Now().After(deadline) {
			var left []string
			for _, pid := range pids {
				left = append(left, fmt.Sprintf("%d %s", pid, proc.Name(pid)))
				_ = killPid(pid)
			}
			errs = append(errs, fmt.Errorf("gvfs session processes still running %v after the bus stopped (killed): %v", leftoverGrace, left))
			break
		}
		time.Sleep(50 * time.Millisecond) // other processes' exits tell us nothing
	}
	if mountinfo.Mounted(s.FuseDir()) {
		errs = append(errs, fmt.Errorf("%s still mounted at the end", s.FuseDir()))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = exec.CommandContext(ctx, "fusermount3", "-uz", s.FuseDir()).Run()
		cancel()
	}
	if !mountinfo.Mounted(s.FuseDir()) {
		if err := os.RemoveAll(s.Runtime); err != nil {
			errs = append(errs, fmt.Errorf("remove gvfs session dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

// pids lists the live processes whose environment holds this session's
// XDG_RUNTIME_DIR: everything the session started, however it was started.
func (s *Session) pids() []int { return proc.WithEnv("XDG_RUNTIME_DIR=" + s.Runtime) }
