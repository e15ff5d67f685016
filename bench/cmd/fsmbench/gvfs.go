package main

import (
	"context"
	"errors"
	"fmt"
	"fsm/internal/proc"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The gvfs path: `fsm serve --mount`, which on Linux has GNOME's gvfs mount
// fsm's WebDAV tree (`gio mount`), the local path a desktop gets without
// fsm's own FUSE build. gvfs needs a D-Bus session bus and its master daemon
// gvfsd, neither of which needs a display: the harness starts a private bus
// in a private XDG_RUNTIME_DIR, gvfsd on it (gvfsd starts gvfsd-fuse, the
// local paths under $XDG_RUNTIME_DIR/gvfs, and gvfsd-dav), and fsm in that
// session's environment.

const gvfsdPath = "/usr/libexec/gvfsd"

// gvfsSession is one private bus with gvfsd; every process of it has the
// private XDG_RUNTIME_DIR in its environment, which is how stop finds them.
type gvfsSession struct {
	runtime string
	env     []string
	bus     *child
	gvfsd   *child
}

func (s *gvfsSession) fuseDir() string { return filepath.Join(s.runtime, "gvfs") }

// gvfsSkipReason says why gvfs cannot run here, or "".
func gvfsSkipReason() string {
	for _, n := range []string{"dbus-daemon", "dbus-send", "gio", "fusermount3"} {
		if _, err := exec.LookPath(n); err != nil {
			return n + " not installed (Debian packages dbus, libglib2.0-bin, fuse3)"
		}
	}
	for _, p := range []string{gvfsdPath, "/usr/libexec/gvfsd-dav", "/usr/libexec/gvfsd-fuse"} {
		if _, err := os.Stat(p); err != nil {
			return p + " missing (Debian packages gvfs, gvfs-backends, gvfs-fuse)"
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "no /dev/fuse"
	}
	return ""
}

// startGvfs starts the session; the returned session's stop must run.
func (h *harness) startGvfs(ctx context.Context) (*gvfsSession, error) {
	// A short path: the bus socket must fit in sun_path.
	runtime, err := os.MkdirTemp("", "fsmb-gvfs-")
	if err != nil {
		return nil, fmt.Errorf("gvfs session dir: %w", err)
	}
	s := &gvfsSession{runtime: runtime}
	h.atExit(s.stop)
	var bus string
	if s.env, bus, err = proc.SessionEnv(runtime); err != nil {
		return nil, err
	}
	if s.bus, err = startChildEnv("dbus-daemon", filepath.Join(runtime, "dbus.log"), s.env,
		[]string{"dbus-daemon", "--session", "--nofork", "--nopidfile", "--address=" + bus}); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, s.bus, "the private session bus", func() bool {
		_, err := os.Stat(filepath.Join(runtime, "bus"))
		return err == nil
	}); err != nil {
		return nil, err
	}
	if s.gvfsd, err = startChildEnv("gvfsd", filepath.Join(runtime, "gvfsd.log"), s.env, []string{gvfsdPath, "--replace"}); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, s.gvfsd, "gvfsd on the bus and gvfsd-fuse's mount", func() bool {
		return isMountPoint(s.fuseDir())
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// stop ends the session: gvfsd first (it unmounts what it mounted), then
// the bus, then whatever of the session is left; gvfsd-fuse's mount goes
// last. Safe to call twice.
func (s *gvfsSession) stop() {
	if s.runtime == "" {
		return
	}
	for _, c := range []*child{s.gvfsd, s.bus} {
		if c != nil {
			c.stop(5 * time.Second)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for pids := s.pids(); len(pids) > 0; pids = s.pids() {
		sig := syscall.SIGTERM
		if time.Now().After(deadline) {
			sig = syscall.SIGKILL
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = unmount(s.fuseDir())
	if !isMountPoint(s.fuseDir()) {
		_ = os.RemoveAll(s.runtime)
	}
	s.runtime = ""
}

// pids lists the live processes whose environment holds this session's
// XDG_RUNTIME_DIR: everything the session started, however it was started.
func (s *gvfsSession) pids() []int { return proc.WithEnv("XDG_RUNTIME_DIR=" + s.runtime) }

// waitFor polls cond until it holds, c dies or startTimeout passes.
func waitFor(ctx context.Context, c *child, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for !cond() {
		if c.exited() {
			return c.diedError()
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("%s not ready within %v; last output:\n%s", what, startTimeout, c.logTail(15))
		}
	}
	return nil
}

// gvfsPath serves the origin's file from a fresh `fsm serve --mount` in a
// private gvfs session and returns the local path fsm reports for it (in
// the API's paths) and the teardown.
func (h *harness) gvfsPath(ctx context.Context, o *origin) (string, func() error, error) {
	if why := gvfsSkipReason(); why != "" {
		return "", nil, fmt.Errorf("%w: %s", errSkip, why)
	}
	g, err := h.startGvfs(ctx)
	if err != nil {
		return "", nil, err
	}
	s, err := h.launchEnv(ctx, "fsm", g.env, func(addr, cache string) []string {
		return []string{h.cfg.fsmBin, "serve", "--addr", addr, "--cache-dir", cache, "--mount", o.fileURL()}
	}, "", -1, true, o.name)
	var path string
	if err == nil {
		path, err = waitDesktopPath(ctx, s, o.name, g.fuseDir())
	}
	teardown := func() error {
		var err error
		if s != nil {
			err = s.stop() // fsm unmounts what it mounted, then the session goes
		}
		g.stop()
		return err
	}
	if err != nil {
		return "", nil, errors.Join(err, teardown())
	}
	return path, teardown, nil
}

// waitDesktopPath waits until the API lists a path of name under dir (the
// desktop mount is made after the listener is up) and the file is there.
func waitDesktopPath(ctx context.Context, s *server, name, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, mountTimeout)
	defer cancel()
	var last apiFile
	for {
		if s.exited() {
			return "", s.diedError()
		}
		if err := getJSON(ctx, apiFileURL(s.base, name), &last); err == nil {
			for _, p := range last.Paths {
				if strings.HasPrefix(p, dir+"/") {
					if _, err := os.Stat(p); err == nil {
						return p, nil
					}
				}
			}
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return "", fmt.Errorf("fsm --mount: no path of %s under %s within %v (paths %v); last output:\n%s",
				name, dir, mountTimeout, last.Paths, s.logTail(15))
		}
	}
}
