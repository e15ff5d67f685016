//go:build darwin

package desktop

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// On macOS the client is the system's webdavfs, the one Finder's "Connect
// to Server" uses: `mount_webdav URL /Volumes/fsm-PORT`. A server that
// answers OPTIONS with "DAV: 1" (no locking) is mounted read-only, which is
// also what we ask for. The volume shows in Finder's sidebar like any
// other; `umount` takes it down. Credentials, when the server needs them,
// go to mount_webdav's prompt on stdin, never into its arguments
// (webdavfsCommand).

const mountWebdav = "/sbin/mount_webdav"

func mountOS(ctx context.Context, c client, u *url.URL, opts Options) (*Mounted, error) {
	if _, err := os.Stat(mountWebdav); err != nil {
		return nil, fmt.Errorf("%s not found (it ships with macOS): %w", mountWebdav, err)
	}
	plain := *u
	plain.User = nil
	if path, ok := mountedAt(ctx, c, plain.String()); ok {
		return &Mounted{path: path}, nil // someone else's: never unmounted by us
	}
	dir := filepath.Join("/Volumes", "fsm-"+u.Port())
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("desktop mount: %s already exists and is not fsm's mount of %s; remove it or unmount it", dir, plain.String())
		}
		return nil, fmt.Errorf("desktop mount: cannot create the mount point: %w (mount %s with Finder's Go > Connect to Server instead)", err, plain.String())
	}
	args, stdin := webdavfsCommand(&plain, opts, dir)
	// A session of its own has no terminal: the prompt of -i reads stdin
	// instead of the terminal fsm was started from.
	c.attr = &syscall.SysProcAttr{Setsid: true}
	if _, err := c.run(ctx, stdin, mountWebdav, args...); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("mount_webdav %s: %w", plain.String(), redact(err, opts.Password, url.QueryEscape(opts.Password), url.PathEscape(opts.Password)))
	}
	undo := func(ctx context.Context) error {
		if _, err := c.run(ctx, "", "/sbin/umount", dir); err != nil {
			c.log.Warn("desktop mount: umount refused; forcing it", "path", dir, "err", err)
			if _, err := c.run(ctx, "", "/sbin/umount", "-f", dir); err != nil {
				return fmt.Errorf("umount %s: %w", dir, err)
			}
		}
		if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the mount point: %w", err)
		}
		return nil
	}
	if err := waitFor(ctx, func() bool { _, err := os.ReadDir(dir); ok := mountedDir(ctx, c, dir); return ok && err == nil }); err != nil {
		undo(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("mount_webdav %s: %s never answered: %w", plain.String(), dir, err)
	}
	return &Mounted{path: dir, undo: undo}, nil
}

// mountedAt finds a webdav mount of url in mount(8)'s table:
// "http://127.0.0.1:8080/ on /Volumes/x (webdav, nodev, ...)".
func mountedAt(ctx context.Context, c client, url string) (string, bool) {
	out, err := c.run(ctx, "", "/sbin/mount", "-t", "webdav")
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(out, "\n") {
		from, rest, ok := strings.Cut(line, " on ")
		if !ok || strings.TrimSuffix(from, "/") != strings.TrimSuffix(url, "/") {
			continue
		}
		if i := strings.LastIndex(rest, " ("); i > 0 {
			return rest[:i], true
		}
	}
	return "", false
}

// mountedDir reports whether dir is a webdav mount point.
func mountedDir(ctx context.Context, c client, dir string) bool {
	out, err := c.run(ctx, "", "/sbin/mount", "-t", "webdav")
	return err == nil && strings.Contains(out, " on "+dir+" (")
}
