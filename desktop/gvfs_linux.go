//go:build linux

package desktop

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// On Linux the client is gvfs: `gio mount dav://HOST:PORT/` asks the
// session's gvfsd to start a gvfsd-dav for the location, and gvfsd-fuse
// shows it as a directory under $XDG_RUNTIME_DIR/gvfs/ (for example
// dav:host=127.0.0.1,port=8080,ssl=false), a path any program can open.
// gio reads credentials from its standard input when the server asks.
// `gio info` names that local path, so we take it from there rather than
// spelling gvfs's naming ourselves.

const installHint = "install gvfs, gvfs-backends, gvfs-fuse and libglib2.0-bin (Debian; gvfs and glib2 elsewhere) and run inside a desktop session"

func mountOS(ctx context.Context, c client, u *url.URL, opts Options) (*Mounted, error) {
	if _, err := exec.LookPath("gio"); err != nil {
		return nil, errors.New("gio not found: " + installHint)
	}
	if err := sessionBus(c); err != nil {
		return nil, err
	}
	loc := davLocation(u)
	if path, err := localPath(ctx, c, loc); err == nil {
		return &Mounted{path: path}, nil // someone else's: never unmounted by us
	}
	stdin := ""
	if opts.User != "" {
		stdin = opts.User + "\n" + opts.Password + "\n"
	}
	if _, err := c.run(ctx, stdin, "gio", "mount", loc); err != nil {
		last := said(err)
		switch {
		case strings.Contains(last, "already mounted"):
			// Mounted by someone else since we looked: theirs, not ours.
			path, err := waitLocalPath(ctx, c, loc)
			if err != nil {
				return nil, fmt.Errorf("%s is mounted but shows no local path: %w", loc, err)
			}
			return &Mounted{path: path}, nil
		case strings.Contains(last, "implement mount"), strings.Contains(last, "not supported"):
			return nil, fmt.Errorf("gvfs cannot mount %s (%s): %s", loc, last, installHint)
		case strings.Contains(last, "Unauthorized"):
			return nil, fmt.Errorf("gio mount %s: the server refused the credentials: %w", loc, err)
		}
		return nil, fmt.Errorf("gio mount %s: %w", loc, err)
	}
	unmount := func(ctx context.Context) error { return gioUnmount(ctx, c, loc) }
	path, err := waitLocalPath(ctx, c, loc)
	if err != nil {
		// Ours, and useless without a path: take it down again.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commandTimeout)
		defer cancel()
		if uerr := gioUnmount(uctx, c, loc); uerr != nil {
			c.log.Warn("desktop mount: undoing the mount", "err", uerr)
		}
		return nil, fmt.Errorf("gvfs mounted %s but shows no local path under $XDG_RUNTIME_DIR/gvfs (%w): install gvfs-fuse (Debian), whose gvfsd-fuse gvfsd starts", loc, err)
	}
	return &Mounted{path: path, undo: unmount}, nil
}

// sessionBus checks that gio can reach a D-Bus session bus, without which
// it silently falls back to local files only and "cannot mount" anything.
func sessionBus(c client) error {
	if c.getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	if rt := c.getenv("XDG_RUNTIME_DIR"); rt != "" {
		if _, err := os.Stat(filepath.Join(rt, "bus")); err == nil {
			return nil
		}
	}
	return errors.New("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and there is no $XDG_RUNTIME_DIR/bus): run fsm inside a desktop session, or under dbus-run-session with gvfs installed")
}

// davLocation is u as gvfs spells it.
func davLocation(u *url.URL) string {
	v := *u
	v.User = nil // credentials go through stdin, not the command line
	v.Scheme = "dav"
	if u.Scheme == "https" {
		v.Scheme = "davs"
	}
	return v.String()
}

// localPath asks gvfs for loc's local path and checks that it answers.
func localPath(ctx context.Context, c client, loc string) (string, error) {
	out, err := c.run(ctx, "", "gio", "info", "-a", "standard::type", loc)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "local path: "); ok {
			if _, err := os.Stat(p); err != nil {
				return "", err
			}
			return p, nil
		}
	}
	return "", errNoLocalPath
}

// errNoLocalPath: gvfs has the mount but no FUSE path for it, which it
// names as soon as the mount exists when gvfsd-fuse runs.
var errNoLocalPath = errors.New("gio info names no local path")

// localPathWait bounds the wait for gvfsd-fuse to show a fresh mount. It
// is usually there at once, but gvfsd-fuse serves one request at a time,
// and right after another mount of the session went away while a program
// had a file open in it, its lookups (and gio info, which stats the path)
// have been seen to block for more than 15 s.
const localPathWait = 45 * time.Second

// localPathTry bounds one look, so that a blocked one is tried again.
const localPathTry = 10 * time.Second

// waitLocalPath waits, bounded, for loc's local path to answer.
func waitLocalPath(ctx context.Context, c client, loc string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, localPathWait)
	defer cancel()
	start := time.Now()
	var path string
	var last error
	warned := false
	err := waitFor(ctx, func() bool {
		try, cancel := context.WithTimeout(ctx, localPathTry)
		defer cancel()
		path, last = localPath(try, c, loc)
		if last != nil && !warned && time.Since(start) >= localPathTry {
			warned = true
			c.log.Warn("desktop mount: gvfs is slow to show the mount's local path; still waiting", "location", loc, "waited", time.Since(start).Round(time.Second), "err", last)
		}
		return last == nil || errors.Is(last, errNoLocalPath)
	})
	if err == nil && last != nil {
		return "", last
	}
	if err != nil {
		return "", fmt.Errorf("%w; last try: %w", err, last)
	}
	return path, nil
}

// gioUnmount unmounts loc and waits until its local path is gone. A mount
// that is busy (a program still reading) is forced: fsm is going away, and
// its server with it.
func gioUnmount(ctx context.Context, c client, loc string) error {
	path, _ := localPath(ctx, c, loc)
	if _, err := c.run(ctx, "", "gio", "mount", "-u", loc); err != nil {
		if strings.Contains(said(err), "not mounted") {
			return nil // gone already (the user unmounted it)
		}
		c.log.Warn("desktop mount: unmount refused; forcing it", "location", loc, "err", err)
		if _, err := c.run(ctx, "", "gio", "mount", "-u", "-f", loc); err != nil {
			return fmt.Errorf("gio mount -u %s: %w", loc, err)
		}
	}
	if path == "" {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, commandTimeout)
		defer cancel()
	}
	if err := waitFor(ctx, func() bool {
		_, err := os.Stat(path)
		return errors.Is(err, fs.ErrNotExist)
	}); err != nil {
		return fmt.Errorf("gio mount -u %s: %s still there: %w", loc, path, err)
	}
	return nil
}
