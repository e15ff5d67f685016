package fsmtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"fsm/internal/mountinfo"
)

// SweepStaleMounts lazily detaches dead fsm FUSE mounts ("Transport
// endpoint is not connected") whose mount point starts with prefix: the
// leftovers of a test run that was killed before its cleanups ran. Live
// mounts, and mounts of anything but fsm, are never touched. Call it from
// TestMain with a prefix only that package's tests use.
func SweepStaleMounts(prefix string) {
	mounts, err := mountinfo.Read()
	if err != nil {
		return
	}
	for _, e := range mounts {
		if e.FSType != "fuse.fsm" || !strings.HasPrefix(e.MountPoint, prefix) || !dead(e.MountPoint) {
			continue
		}
		if err := syscall.Unmount(e.MountPoint, syscall.MNT_DETACH); err != nil {
			if out, err := exec.Command("fusermount3", "-u", "-z", "--", e.MountPoint).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "sweep stale mount %s: %v %s\n", e.MountPoint, err, out)
			}
		}
	}
}

// dead reports whether dir is a FUSE mount whose server is gone or stuck.
func dead(dir string) bool {
	ch := make(chan error, 1)
	go func() {
		_, err := os.Stat(dir)
		ch <- err
	}()
	select {
	case err := <-ch:
		return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
	case <-time.After(3 * time.Second):
		return true
	}
}
