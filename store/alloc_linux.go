package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// allocate reserves the disk blocks of [off, off+n) of f without changing
// its content or size. A full disk is errDiskFull. ext4 keeps what a failed
// fallocate took, so a caller that gets errDiskFull gives it back (punch).
func allocate(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, off, n)
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return errors.ErrUnsupported // e.g. some network file systems: sparse writes still work
	case errors.Is(err, unix.ENOSPC):
		return errDiskFull
	case tooBig(err):
		return errFileTooBig
	}
	return err
}

// punch frees the blocks of [off, off+n) of f, which reads as zeros after.
func punch(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return errors.ErrUnsupported
	}
	return err
}

// diskSpace is what an unprivileged process may still write in dir and the
// size of its file system; -1, -1 if it cannot tell.
func diskSpace(dir string) (free, total int64) {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return -1, -1
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize)
}

// diskFull reports whether a write failed for want of space.
func diskFull(err error) bool { return errors.Is(err, unix.ENOSPC) }

// tooBig reports whether the file system refused a file size as larger than
// it can hold: EFBIG from ftruncate, EFBIG or EINVAL from fallocate past
// the file system's maximum file size (ext4: 16 TiB with 4 KiB blocks).
func tooBig(err error) bool { return errors.Is(err, unix.EFBIG) || errors.Is(err, unix.EINVAL) }
