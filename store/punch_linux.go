package store

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// punchHole frees the disk blocks of [off, off+n) of f, which then reads
// as zeros; the file keeps its size.
func punchHole(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return errors.ErrUnsupported
	}
	return err
}
