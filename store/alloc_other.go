//go:build !linux

package store

import "os"

// allocate is a no-op where fallocate(2) is not available; the temp file
// then grows as it is written.
func allocate(f *os.File, size int64) error { return nil }
