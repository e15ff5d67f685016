//go:build !linux

package store

import (
	"errors"
	"os"
	"syscall"
)

// allocate is unsupported where fallocate(2) is not available; the temp
// file then grows as it is written.
func allocate(f *os.File, off, n int64) error { return errors.ErrUnsupported }

// punch is unsupported here: nothing was reserved to give back.
func punch(f *os.File, off, n int64) error { return errors.ErrUnsupported }

// diskSpace is unknown here.
func diskSpace(dir string) (free, total int64) { return -1, -1 }

// diskFull reports whether a write failed for want of space.
func diskFull(err error) bool { return errors.Is(err, syscall.ENOSPC) }

// tooBig reports whether the file system refused a file size as larger than
// it can hold.
func tooBig(err error) bool { return errors.Is(err, syscall.EFBIG) }
