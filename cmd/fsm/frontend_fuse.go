package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"fsm/control"
	"fsm/fuse"
	"fsm/vfs"
)

// fuseFrontend is the --fuse mount. An unmount from outside (fusermount3
// -u) ends the mount, not fsm: WebDAV keeps serving.
type fuseFrontend struct {
	fsys *vfs.FS
	dir  string // as given to --fuse
	log  *slog.Logger
	// mnt is set once start has mounted; read by the signal goroutine's
	// abort and by shutdown.
	mnt atomic.Pointer[fuse.Mounted]
	// offered is the live mount's absolute path, for the API: nil before
	// start and after an unmount from outside.
	offered atomic.Pointer[string]
}

func (f *fuseFrontend) name() string { return "fuse" }

func (f *fuseFrontend) start(ctx context.Context, fail func(error)) error {
	mnt, err := fuse.Mount(f.fsys, f.dir, fuse.Options{Logger: f.log})
	if err != nil {
		return fmt.Errorf("--fuse %s: %w", f.dir, err)
	}
	f.mnt.Store(mnt)
	dir := mnt.Dir()
	f.offered.Store(&dir)
	go func() {
		select {
		case <-mnt.Done():
			if ctx.Err() != nil {
				return // shutdown's own unmount: serve ended first
			}
			f.log.Warn("the FUSE mount was unmounted from outside; WebDAV keeps serving (stop fsm with Ctrl-C or SIGTERM)", "dir", f.dir)
			f.offered.Store(nil)
		case <-ctx.Done():
		}
	}()
	return nil
}

func (f *fuseFrontend) mount() (control.Mount, bool) {
	if d := f.offered.Load(); d != nil {
		return control.Mount{Kind: control.MountFUSE, Dir: *d}, true
	}
	return control.Mount{}, false
}

// drain waits until no file is open through the mount.
func (f *fuseFrontend) drain(ctx context.Context) error {
	if mnt := f.mnt.Load(); mnt != nil {
		return mnt.Drain(ctx)
	}
	return nil
}

// stop fails the reads still waiting (EIO) and unmounts. A process still
// holding a file or its working directory in the mount delays the unmount;
// the mount is detached and its reads failed by then, so the caller warns
// rather than fails.
func (f *fuseFrontend) stop(ctx context.Context) error {
	if mnt := f.mnt.Load(); mnt != nil {
		return mnt.Unmount(ctx)
	}
	return nil
}

// abort detaches the mount at once: never leave a dead one behind.
func (f *fuseFrontend) abort() {
	if mnt := f.mnt.Load(); mnt != nil {
		if err := mnt.Detach(); err != nil {
			f.log.Warn("exit: FUSE mount not removed", "err", err)
		}
	}
}
