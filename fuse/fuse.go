//go:build fuse

package fuse

import (
	"context"
	"errors"
	"fmt"
	"fsm/internal/mountinfo"
	"log/slog"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	cgofuse "github.com/winfsp/cgofuse/fuse"

	"fsm/vfs"
)

// Mounted is a live FUSE mount made by Mount.
type Mounted struct {
	dir    string
	log    *slog.Logger
	host   *cgofuse.FileSystemHost
	fs     *fileSystem
	cancel context.CancelFunc // releases every blocked read
	done   chan struct{}      // closed when cgofuse's Mount returned
	err    error              // why mounting failed; written before done closes

	mu        sync.Mutex // orders host.Unmount against Destroy
	destroyed bool
}

// Mount runs the preflight checks (see Check), clears a stale mount left at
// dir by a crashed fsm, mounts fsys read-only at dir and returns once the
// mount is live. The mount lasts until Unmount, an outside unmount
// (fusermount3 -u) or SIGINT/SIGTERM, which cgofuse catches itself: watch
// Done.
func Mount(fsys *vfs.FS, dir string, opts Options) (*Mounted, error) {
	opts.defaults()
	if fsys == nil {
		return nil, errors.New("fuse: no file system to mount")
	}
	if runtime.GOOS != "windows" {
		abs, err := absDir(dir)
		if err != nil {
			return nil, fmt.Errorf("mount point %s: %w", dir, err)
		}
		dir = abs
	}
	if err := preflight(dir, true, opts.Logger); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mounted{
		dir:    dir,
		log:    opts.Logger,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	m.fs = newFileSystem(ctx, fsys, opts, m.destroyed1)
	m.host = cgofuse.NewFileSystemHost(m.fs)
	go m.run(mountArgs(opts))
	select {
	case <-m.fs.ready:
		m.log.Info("FUSE mount is live", "dir", dir, "options", strings.Join(mountArgs(opts), " "))
		return m, nil
	case <-m.done:
		cancel()
		return nil, m.err
	}
}

// mountArgs are the libfuse options; see CLIENTS.md for what each libfuse
// accepts (fuse3 rejects nonempty, direct_io, intr, max_readahead; fuse2
// rejects max_threads; max_read breaks fuse3 mounts through cgofuse).
func mountArgs(opts Options) []string {
	clean := strings.NewReplacer(",", "_", "\\", "_", "=", "_").Replace
	args := []string{"-o", "ro", "-o", "fsname=" + clean(opts.FSName)}
	switch runtime.GOOS {
	case "darwin":
		args = append(args, "-o", "volname="+clean(opts.VolName))
	case "windows":
	default:
		args = append(args, "-o", "subtype=fsm")
	}
	if isFuse3 && libVersion() >= 312 {
		// libfuse 3.12+ caps worker threads at 10: ten reads waiting for
		// the origin would stall every other operation on the mount. Older
		// libfuse3 has no cap and rejects the option. max_idle_threads
		// silences 3.14's bogus "Ignoring invalid max threads" warning.
		args = append(args, "-o", "max_threads=64", "-o", "max_idle_threads=64")
	}
	if opts.AllowOther {
		args = append(args, "-o", "allow_other")
	}
	return args
}

func (m *Mounted) run(args []string) {
	defer close(m.done)
	defer m.fs.closeAll() // handles the kernel never released (connection aborted)
	defer m.cancel()
	defer func() {
		// cgofuse panics when it cannot load FUSE; never let that abort fsm.
		if r := recover(); r != nil {
			m.err = fmt.Errorf("mount %s: %v: install FUSE (Linux: apt-get install fuse3; macOS: macFUSE or FUSE-T)", m.dir, r)
		}
	}()
	if !m.host.Mount(m.dir, args) {
		m.err = fmt.Errorf("mount %s failed; libfuse printed the reason on stderr (is the directory usable and /dev/fuse accessible?)", m.dir)
		return
	}
	m.log.Info("FUSE mount ended", "dir", m.dir)
}

// destroyed1 is called by the file system's Destroy, after which cgofuse
// clears the handle host.Unmount needs.
func (m *Mounted) destroyed1() {
	m.mu.Lock()
	m.destroyed = true
	m.mu.Unlock()
}

// Dir is the absolute mount point.
func (m *Mounted) Dir() string { return m.dir }

// Done is closed when the mount has ended, whoever ended it.
func (m *Mounted) Done() <-chan struct{} { return m.done }

// Unmount fails every read still waiting for bytes (EIO), unmounts, and waits
// (bounded by ctx) until the FUSE server has stopped. It returns an error when
// ctx ends first, typically because a process still has a file or the
// current directory open on the mount; the mount is detached from the tree
// either way. Calling it again, or after the mount ended, is harmless.
func (m *Mounted) Unmount(ctx context.Context) error {
	m.cancel()
	select {
	case <-m.done:
		return nil
	default:
	}
	m.mu.Lock()
	ok := m.destroyed || m.host.Unmount()
	m.mu.Unlock()
	// cgofuse tries umount2 (as root) and then /bin/fusermount; a fuse3-only
	// system has just fusermount3. A failure may also mean someone else
	// (cgofuse's own signal handler, fusermount3 -u) unmounted first.
	if !ok && m.mounted() {
		out, err := exec.CommandContext(ctx, fusermount(), "-u", m.dir).CombinedOutput()
		if err != nil {
			m.log.Debug("fuse: unmount", "cmd", fusermount()+" -u", "err", err, "output", strings.TrimSpace(string(out)))
			out, err = exec.CommandContext(ctx, fusermount(), "-uz", m.dir).CombinedOutput()
		}
		if err != nil && m.mounted() {
			return fmt.Errorf("unmount %s: %v %s; run %s -uz %s", m.dir, err, strings.TrimSpace(string(out)), fusermount(), m.dir)
		}
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("unmount %s: FUSE server still busy, %d files open through it (%w); the mount is detached and ends when they close", m.dir, m.fs.openHandles(), ctx.Err())
	}
}

// mounted reports whether our mount is still in the tree (Linux; elsewhere
// it answers true until the mount has ended).
func (m *Mounted) mounted() bool {
	select {
	case <-m.done:
		return false
	default:
	}
	mounts, err := mountinfo.Read()
	if err != nil || mounts == nil {
		return true
	}
	e, ok := mountinfo.At(mounts, m.dir)
	return ok && e.FSType == fsType
}
