//go:build linux

package main

import (
	"context"
	"fmt"
	"fsm/internal/mountinfo"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bounds for process life-cycle steps; transfers have their own.
const (
	startTimeout = 30 * time.Second
	stopGrace    = 15 * time.Second // fsm itself allows in-flight reads 10 s
	mountTimeout = 30 * time.Second
)

// server is a running fsm or rclone with its private cache dir.
type server struct {
	*child
	base  string // WebDAV root, "http://127.0.0.1:PORT/"
	cache string
	mount string // FUSE mount point, "" if none
	h     *harness
}

func (s *server) fileURL() string { return s.base + fileName }

// stop shuts the server down, makes sure its mount is gone and frees its
// cache right away: the run would otherwise hold several GiB of caches.
func (s *server) stop() error {
	s.child.stop(stopGrace)
	var err error
	if s.mount != "" {
		err = unmount(s.mount)
	}
	if err == nil && !s.h.cfg.keep {
		_ = os.RemoveAll(s.cache)
	}
	// Flush what is left dirty (logs, kept caches) so the next scenario does
	// not pay for this one's writeback.
	syscall.Sync()
	return err
}

// launch starts argv (which must bind addr) with a fresh cache dir, registers
// its cleanup and waits until it answers HTTP (when wantHTTP), then until
// the control API shows each of staged out of its probe (fsm only), and,
// with a mount, until the file shows there with size bytes.
func (h *harness) launch(ctx context.Context, name string, argv func(addr, cache string) []string, mount string, size int64, wantHTTP bool, staged ...string) (*server, error) {
	return h.launchEnv(ctx, name, nil, argv, mount, size, wantHTTP, staged...)
}

// launchEnv is launch with env as the child's whole environment (nil: ours).
func (h *harness) launchEnv(ctx context.Context, name string, env []string, argv func(addr, cache string) []string, mount string, size int64, wantHTTP bool, staged ...string) (*server, error) {
	cache, err := h.mkdir(name + "-cache")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c, err := startChildEnv(name, cache+".log", env, argv(addr, cache))
	if err != nil {
		return nil, err
	}
	s := &server{child: c, base: "http://" + addr + "/", cache: cache, mount: mount, h: h}
	h.atExit(func() {
		if err := s.stop(); err != nil {
			h.log.Error("cleanup", "server", name, "err", err)
		}
	})
	if wantHTTP {
		if err := waitHTTP(ctx, c, s.base, startTimeout); err != nil {
			return nil, err
		}
	}
	for _, n := range staged {
		if _, err := waitStaged(ctx, c, s.base, n); err != nil {
			return nil, err
		}
	}
	if mount != "" && size >= 0 { // size < 0: the caller waits for its own files
		if err := waitFile(ctx, c, filepath.Join(mount, fileName), size); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// startFSM runs `fsm serve` on fileURL, optionally with --fuse mount (where
// the file must show size bytes).
func (h *harness) startFSM(ctx context.Context, bin, fileURL, mount string, size int64) (*server, error) {
	return h.launch(ctx, "fsm", func(addr, cache string) []string {
		argv := []string{bin, "serve", "--addr", addr, "--cache-dir", cache}
		if mount != "" {
			argv = append(argv, "--fuse", mount)
		}
		return append(argv, fileURL)
	}, mount, size, true, fileName)
}

// rcloneArgs are the flags every rclone run shares: the http remote on the
// origin, full VFS cache mode (the mode that streams and caches like fsm),
// and an empty config so the user's rclone.conf plays no part.
func (h *harness) rcloneArgs(originBase, cache string) []string {
	conf := filepath.Join(h.tmp, "rclone.conf")
	_ = os.WriteFile(conf, nil, 0o600)
	return []string{"--http-url", originBase, "--vfs-cache-mode", "full",
		"--cache-dir", cache, "--config", conf, "--log-level", "NOTICE"}
}

// startRcloneWebDAV runs `rclone serve webdav :http:` on the origin.
func (h *harness) startRcloneWebDAV(ctx context.Context, originBase string) (*server, error) {
	return h.launch(ctx, "rclone", func(addr, cache string) []string {
		argv := []string{h.cfg.rclone, "serve", "webdav", ":http:", "--addr", addr}
		return append(argv, h.rcloneArgs(originBase, cache)...)
	}, "", 0, true)
}

// startRcloneMount runs `rclone mount :http: DIR --read-only`.
func (h *harness) startRcloneMount(ctx context.Context, originBase, mount string, size int64) (*server, error) {
	return h.launch(ctx, "rclone-mount", func(_, cache string) []string {
		argv := []string{h.cfg.rclone, "mount", ":http:", mount, "--read-only"}
		return append(argv, h.rcloneArgs(originBase, cache)...)
	}, mount, size, false)
}

// waitFile waits until path is on a live mount and has the expected size.
// That lookup is the metadata step every reader does before reading; it is
// left out of the timed read, as PROPFIND is for WebDAV.
func waitFile(ctx context.Context, c *child, path string, size int64) error {
	ctx, cancel := context.WithTimeout(ctx, mountTimeout)
	defer cancel()
	var last error
	for {
		if c.exited() {
			return c.diedError()
		}
		if isMountPoint(filepath.Dir(path)) {
			fi, err := os.Stat(path)
			switch {
			case err != nil:
				last = err
			case fi.Size() != size:
				last = fmt.Errorf("size %d, want %d", fi.Size(), size)
			default:
				return nil
			}
		} else {
			last = fmt.Errorf("%s not mounted yet", filepath.Dir(path))
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("%s: %s not ready within %v: %v; last output:\n%s", c.name, path, mountTimeout, last, c.logTail(15))
		}
	}
}

// mountPoints lists the mount points this process sees.
func mountPoints() []string {
	entries, _ := mountinfo.Read()
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.MountPoint)
	}
	return out
}

func isMountPoint(dir string) bool {
	for _, m := range mountPoints() {
		if m == dir {
			return true
		}
	}
	return false
}

func mountsUnder(dir string) []string {
	var out []string
	for _, m := range mountPoints() {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	return out
}

// unmount detaches dir if it is still mounted: normally the server already
// did on SIGTERM; after a crash the mount would be left dead ("Transport
// endpoint is not connected"), so fall back to a lazy unmount.
func unmount(dir string) error {
	if !isMountPoint(dir) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "fusermount3", "-u", dir).CombinedOutput()
	if err == nil && !isMountPoint(dir) {
		return nil
	}
	lazy, lerr := exec.CommandContext(ctx, "fusermount3", "-u", "-z", dir).CombinedOutput()
	if lerr != nil || isMountPoint(dir) {
		return fmt.Errorf("unmount %s: %v %s; lazy: %v %s", dir, err, out, lerr, lazy)
	}
	return nil
}
