//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"fsm/internal/fsmtest/gvfs"
)

// The gvfs path: `fsm serve --mount`, which on Linux has GNOME's gvfs mount
// fsm's WebDAV tree (`gio mount`), the local path a desktop gets without
// fsm's own FUSE build. gvfs needs a D-Bus session bus and its master daemon
// gvfsd, neither of which needs a display: the harness starts a private bus
// in a private XDG_RUNTIME_DIR, gvfsd on it (gvfsd starts gvfsd-fuse, the
// local paths under $XDG_RUNTIME_DIR/gvfs, and gvfsd-dav), and fsm in that
// session's environment; package gvfs owns the session.

// startGvfs starts a session (package gvfs, shared with the tests), its log
// in the run's temp dir; the returned stop must run.
func (h *harness) startGvfs(ctx context.Context) (*gvfs.Session, func(), error) {
	log, err := os.CreateTemp(h.tmp, "gvfs-*.log")
	if err != nil {
		return nil, nil, fmt.Errorf("gvfs session log: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	g, err := gvfs.Start(ctx, gvfs.WithFuse, log)
	if err != nil {
		log.Close()
		return nil, nil, fmt.Errorf("%w; log in %s", err, log.Name())
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := g.Stop(); err != nil {
				h.log.Warn("gvfs session teardown", "err", err, "log", log.Name())
			}
			log.Close()
		})
	}
	h.atExit(stop)
	return g, stop, nil
}

// gvfsPath serves the origin's file from a fresh `fsm serve --mount` in a
// private gvfs session and returns the local path fsm reports for it (in
// the API's paths) and the teardown.
func (h *harness) gvfsPath(ctx context.Context, o *origin) (string, func() error, error) {
	if why := gvfs.Missing(); why != nil {
		return "", nil, fmt.Errorf("%w: %v", errSkip, why)
	}
	g, stopGvfs, err := h.startGvfs(ctx)
	if err != nil {
		return "", nil, err
	}
	s, err := h.launchEnv(ctx, "fsm", g.Env, func(addr, cache string) []string {
		return []string{h.cfg.fsmBin, "serve", "--addr", addr, "--cache-dir", cache, "--mount", o.fileURL()}
	}, "", -1, true, o.name)
	var path string
	if err == nil {
		path, err = waitDesktopPath(ctx, s, o.name, g.FuseDir())
	}
	teardown := func() error {
		var err error
		if s != nil {
			err = s.stop() // fsm unmounts what it mounted, then the session goes
		}
		stopGvfs()
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
