//go:build !linux

package store

import (
	"errors"
	"os"
)

// allocate is unsupported where fallocate(2) is not available; the temp
// file then grows as it is written.
func allocate(f *os.File, size int64) error { return errors.ErrUnsupported }
