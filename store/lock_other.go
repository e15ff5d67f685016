//go:build !unix

package store

import (
	"os"
	"path/filepath"
)

// Without flock, an open lock file cannot be removed on Windows while its
// owner runs, which is enough to tell live run folders from leftovers.
func lockRunDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
}

func runDirStale(dir string) bool {
	return os.Remove(filepath.Join(dir, "lock")) == nil || !exists(filepath.Join(dir, "lock"))
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
