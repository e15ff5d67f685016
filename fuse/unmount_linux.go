//go:build fuse && linux

package fuse

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"fsm/internal/mountinfo"
)

// ownDevice returns the mount table's device of the fsm mount now at dir.
func ownDevice(dir string) string {
	mounts, err := mountinfo.Read()
	if err != nil {
		return ""
	}
	if e, ok := mountinfo.At(mounts, dir); ok && e.FSType == fsType {
		return e.Dev
	}
	return ""
}

// topIs reports whether the topmost mount at dir is the fsm mount dev.
// Without a readable mount table it answers true: the caller then relies on
// unmounting at most once.
func topIs(dir, dev string) bool {
	mounts, err := mountinfo.Read()
	if err != nil || mounts == nil {
		return true
	}
	e, ok := mountinfo.At(mounts, dir)
	return ok && e.FSType == fsType && (dev == "" || e.Dev == dev)
}

// unmountOwn removes our mount, if the topmost mount at m.dir is still it.
// When another mount covers it, it is left (see coveredError). m.mu must be
// held.
func (m *Mounted) unmountOwn() error {
	if !topIs(m.dir, m.dev) {
		if top, ok := covering(m.dir, m.dev); ok {
			return &coveredError{dir: m.dir, top: top}
		}
		m.log.Debug("fuse: our mount has already been removed", "dir", m.dir)
		return nil
	}
	return unmountAt(m.dir, m.dev, m.log)
}

// covering returns the topmost mount at dir if the fsm mount dev is still
// beneath it.
func covering(dir, dev string) (mountinfo.Entry, bool) {
	mounts, err := mountinfo.Read()
	if err != nil {
		return mountinfo.Entry{}, false
	}
	top, ok := mountinfo.At(mounts, dir)
	if !ok {
		return mountinfo.Entry{}, false
	}
	for _, e := range mounts {
		if e.MountPoint == dir && e.FSType == fsType && (dev == "" || e.Dev == dev) && e != top {
			return top, true
		}
	}
	return mountinfo.Entry{}, false
}

// coveredError: someone mounted over fsm's mount. The kernel unmounts only
// the topmost mount at a path, and a lazy unmount of fsm's mount (reached
// through a file descriptor) would take the mount on it along: fsm's mount
// stays, and the error says how to remove it.
type coveredError struct {
	dir string
	top mountinfo.Entry
}

func (e *coveredError) Error() string {
	return fmt.Sprintf("fsm's FUSE mount at %s is not removed: another mount (%s from %s) was placed over it, and fsm leaves that alone; "+
		"fsm's mount stays beneath it, dead once fsm has exited; remove the other mount first, then run %s -u %s (or start fsm with --fuse %s again, which removes a dead fsm mount)",
		e.dir, e.top.FSType, e.top.Source, fusermount(), e.dir, e.dir)
}

// unmountAt removes the fsm mount dev at dir: a plain unmount, which fails
// while files are open, then a lazy one, which detaches the mount from the
// tree at once. Each step first checks that dev is still the topmost mount
// there, so that nothing beneath is ever removed.
func unmountAt(dir, dev string, log *slog.Logger) error {
	var errs []string
	for _, lazy := range []bool{false, true} {
		if !topIs(dir, dev) {
			return nil
		}
		err := umount(dir, lazy)
		if err == nil {
			return nil
		}
		log.Debug("fuse: unmount", "dir", dir, "lazy", lazy, "err", err)
		errs = append(errs, err.Error())
	}
	if !topIs(dir, dev) {
		return nil
	}
	return fmt.Errorf("unmount %s: %s; run %s -uz %s", dir, strings.Join(errs, "; "), fusermount(), dir)
}

// umount unmounts the topmost mount at dir: with umount2 as root (no
// fusermount3 needed), else through the setuid fusermount3, whose output
// is kept out of fsm's stderr.
func umount(dir string, lazy bool) error {
	if os.Geteuid() == 0 {
		flags := 0
		if lazy {
			flags = syscall.MNT_DETACH
		}
		if err := syscall.Unmount(dir, flags); err != nil {
			return fmt.Errorf("umount2: %w", err)
		}
		return nil
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	args = append(args, "--", dir)
	out, err := exec.Command(fusermount(), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", fusermount(), strings.Join(args[:len(args)-2], " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// clearStale removes a dead fsm mount at dir (left by a crashed fsm). A dead
// mount of another FUSE file system is not fsm's to remove.
func clearStale(dir string, log *slog.Logger) error {
	mounts, err := mountinfo.Read()
	if err != nil {
		return fmt.Errorf("mount point %s does not answer and the mount table cannot be read: %w", dir, err)
	}
	e, ok := mountinfo.At(mounts, dir)
	if !ok || e.FSType != fsType {
		what := "no mount table entry"
		if ok {
			what = fmt.Sprintf("%s from %s", e.FSType, e.Source)
		}
		return fmt.Errorf("mount point %s does not answer and is not a mount of fsm (%s); fsm leaves it alone: unmount it yourself", dir, what)
	}
	if err := unmountAt(dir, e.Dev, log); err != nil {
		return fmt.Errorf("mount point %s holds a stale fsm mount that could not be removed: %w", dir, err)
	}
	log.Info("removed a stale FUSE mount left by an earlier run", "dir", dir)
	return nil
}
