package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// allocate reserves size bytes of disk for f without changing its content.
// A full disk is errDiskFull.
func allocate(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return errors.ErrUnsupported // e.g. some network file systems: sparse writes still work
	case errors.Is(err, unix.ENOSPC):
		return errDiskFull
	}
	return err
}

// freeSpace is what an unprivileged process may still write in dir; -1 if
// it cannot tell.
func freeSpace(dir string) int64 {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// diskFull reports whether a write failed for want of space.
func diskFull(err error) bool { return errors.Is(err, unix.ENOSPC) }
