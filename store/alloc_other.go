//go:build !linux

package store

import (
	"errors"
	"os"
	"syscall"
)

// allocate is unsupported where fallocate(2) is not available; the temp
// file then grows as it is written.
func allocate(f *os.File, size int64) error { return errors.ErrUnsupported }

// freeSpace is unknown here.
func freeSpace(dir string) int64 { return -1 }

// diskFull reports whether a write failed for want of space.
func diskFull(err error) bool { return errors.Is(err, syscall.ENOSPC) }
