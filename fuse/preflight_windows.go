//go:build fuse && windows

package fuse

import (
	"fmt"
	"log/slog"
	"os"
)

// Check runs Mount's preflight checks without mounting. WinFsp mounts on a
// drive letter ("X:") or a directory that does not exist yet.
func Check(dir string) error { return preflight(dir, false, nil) }

func preflight(dir string, clear bool, log *slog.Logger) error {
	if len(dir) == 2 && dir[1] == ':' {
		return nil
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("mount point %s exists; WinFsp mounts on a drive letter (X:) or a directory that does not exist yet", dir)
	}
	return nil
}

// fusermount has no counterpart on Windows: WinFsp unmounts through the
// host itself, and no mount table is read there, so it is never run.
func fusermount() string { return "fusermount" }
