package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncData is fdatasync: the bytes, not metadata such as the mtime.
func syncData(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
