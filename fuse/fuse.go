//go:build fuse

package fuse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// forgetUnstage removes m.unstaged from the FS's unstage hooks.
	forgetUnstage func()
	err           error // why mounting failed; written before done closes

	// mu serializes unmount attempts and guards the fields below.
	mu sync.Mutex
	// dev identifies our mount in the mount table ("0:57"), so that fsm
	// never unmounts what lies under it or was mounted over it; "" where
	// there is no mount table (non-Linux) or the entry was not found.
	dev   string
	phase unmountPhase
}

// unmountPhase: whether fsm has asked the kernel to remove its mount. A
// mount is removed at most once: a second umount at the same path would
// remove whatever is beneath.
type unmountPhase int

const (
	mountedPhase   unmountPhase = iota
	unmountedPhase              // removed by us, or found gone
)

// Library names the FUSE library this build mounts with.
func Library() string {
	switch {
	case runtime.GOOS == "darwin":
		return "macFUSE or FUSE-T"
	case runtime.GOOS == "windows":
		return "WinFsp"
	case isFuse3:
		return "libfuse3"
	}
	return "libfuse2"
}

// Mount runs the preflight checks (see Check), clears a stale fsm mount left
// at dir by a crashed run, mounts fsys read-only at dir and returns once the
// mount is live. The mount lasts until Unmount or an outside unmount
// (fusermount3 -u): watch Done. Signals are the caller's business: Mount
// takes away the SIGINT/SIGTERM handler cgofuse installs, which would
// unmount by path.
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
	m.fs = newFileSystem(ctx, fsys, opts, m.initialized)
	m.host = cgofuse.NewFileSystemHost(m.fs)
	m.forgetUnstage = fsys.OnUnstage(m.unstaged)
	go m.run(mountArgs(opts))
	select {
	case <-m.fs.ready:
		m.mu.Lock()
		m.dev = ownDevice(dir)
		m.mu.Unlock()
		m.log.Info("FUSE mount is live", "dir", dir, "options", strings.Join(mountArgs(opts), " "))
		return m, nil
	case <-m.done:
		cancel()
		return nil, m.err
	}
}

// mountArgs are the libfuse options. What each libfuse accepts differs
// (fuse3 rejects nonempty, direct_io, intr and max_readahead; fuse2 rejects
// max_threads; max_read breaks fuse3 mounts through cgofuse): see docs/FUSE.md.
func mountArgs(opts Options) []string {
	clean := strings.NewReplacer(",", "_", "\\", "_", "=", "_").Replace
	// Not "-o ro" where fsm unlinks an unstaged file still open through its
	// own mount (restage.go); every other change fails with EROFS.
	args := []string{"-o", "fsname=" + clean(opts.FSName)}
	if !hideByUnlink {
		args = append([]string{"-o", "ro"}, args...)
	}
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
	defer m.forgetUnstage()
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

// initialized runs in the file system's Init, right after cgofuse has
// registered its own SIGINT/SIGTERM channel: that handler unmounts by path
// (as root: whatever is mounted there, a second time), so it goes.
func (m *Mounted) initialized() {
	if err := releaseSignals(m.host); err != nil {
		m.log.Warn("fuse: cgofuse's signal handler stays; a signal may unmount by path", "err", err)
	}
}

// Dir is the absolute mount point.
func (m *Mounted) Dir() string { return m.dir }

// Done is closed when the mount has ended, whoever ended it.
func (m *Mounted) Done() <-chan struct{} { return m.done }

func (m *Mounted) ended() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// Drain waits until no file is open through the mount, so that readers
// finish what they are reading, or until ctx ends (then it returns ctx's
// error). Reads keep being served meanwhile.
func (m *Mounted) Drain(ctx context.Context) error {
	for {
		n, changed := m.fs.openState()
		if n == 0 || m.ended() {
			return nil
		}
		select {
		case <-changed:
		case <-m.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("drain %s: %d files still open through it: %w", m.dir, n, context.Cause(ctx))
		}
	}
}

// Unmount fails every read still waiting for bytes (EIO), unmounts, and waits
// (bounded by ctx) until the FUSE server has stopped. It returns an error when
// ctx ends first, typically because a process still has a file or the
// current directory open on the mount; the mount is detached from the tree
// then. When another mount was placed over fsm's, it returns at once with an
// error saying that fsm's mount stays beneath it and how to remove it; fsm
// never unmounts the other. Calling it again, or after the mount ended, is
// harmless: fsm removes only its own mount, and only once.
func (m *Mounted) Unmount(ctx context.Context) error {
	m.cancel()
	if err := m.remove(); err != nil {
		return err
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("unmount %s: FUSE server still busy, %d files open through it (%w); the mount is detached and ends when they close", m.dir, m.fs.openHandles(), ctx.Err())
	}
}

// Detach fails every blocked read and removes the mount from the tree at
// once, without waiting for anything: for a process about to exit.
func (m *Mounted) Detach() error {
	m.cancel()
	return m.remove()
}

// remove takes our mount out of the tree once, if it is still ours.
func (m *Mounted) remove() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.phase == unmountedPhase || m.ended() {
		return nil
	}
	err := m.unmountOwn()
	if !errors.As(err, new(*coveredError)) {
		// Tried once (a covered mount was not touched: try again later).
		m.phase = unmountedPhase
	}
	return err
}
