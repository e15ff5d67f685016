package store

import (
	"errors"
	"os"
	"syscall"
)

// allocate reserves size bytes of disk for f without changing its content.
func allocate(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		return errors.ErrUnsupported // e.g. some network file systems: sparse writes still work
	}
	return err
}
