// Package fuse mounts a vfs.FS read-only through FUSE (cgofuse): libfuse3 on
// Linux, macFUSE or FUSE-T on macOS, WinFsp on Windows.
//
// The real implementation needs cgo and is built only with the build tag
// "fuse" (on Linux "fuse,fuse3" selects libfuse3). Without the tag the package
// is a stub whose Mount and Check return ErrNotBuilt, so the default build
// stays pure Go.
//
// Reads through the mount block until every requested byte is present (or
// the real end of the file): a short read would silently truncate the file in
// the kernel's page cache. Every wait is bounded by Options.ReadTimeout and by
// Unmount, since FUSE here has no interrupts.
package fuse

import (
	"errors"
	"log/slog"
	"time"
)

// ErrNotBuilt is returned by Mount and Check in a build without FUSE support.
var ErrNotBuilt = errors.New("this fsm was built without FUSE support; rebuild with -tags fuse,fuse3 (Linux) or -tags fuse (macOS) — see README")

// Options configure a mount. Zero values pick the defaults noted.
type Options struct {
	FSName  string // shown as the mount's source ("fsm")
	VolName string // volume name in Finder (macOS only; "fsm")
	// AllowOther lets other users (root included) see the mount; on Linux
	// it needs user_allow_other in /etc/fuse.conf unless fsm runs as root.
	AllowOther bool
	// ReadTimeout bounds how long an application's read waits for its
	// bytes before it fails with EIO (50 s: under macFUSE's 60 s daemon
	// timeout). The kernel's retry of a page that timed out fails at once.
	ReadTimeout time.Duration
	// CacheIncomplete opens files that are still downloading through the
	// page cache too. By default they open with direct_io until complete,
	// so that readahead waiting on a stalled origin cannot fill the
	// mount's 12 background request slots and stall page-cache reads of
	// every other file; the price is that mmap with MAP_SHARED fails
	// (ENODEV) on such a file unless kernel and libfuse allow it
	// (MAP_PRIVATE works).
	CacheIncomplete bool
	Logger          *slog.Logger // nil: slog.Default()

	onRelease  func(path string)     // test hook: a handle of the staged name path was released
	onReadFail func(why readFailure) // test hook: a read answered EIO
	noHide     bool                  // test hook: never unlink an unstaged open file (restage.go's fallback)
}

const defaultReadTimeout = 50 * time.Second

func (o *Options) defaults() {
	if o.FSName == "" {
		o.FSName = "fsm"
	}
	if o.VolName == "" {
		o.VolName = "fsm"
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = defaultReadTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}
