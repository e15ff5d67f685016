package fuse

import "path/filepath"

// fsType is the kernel's fstype of our mounts: "fuse." + the subtype option.
const fsType = "fuse.fsm"

// absDir makes dir absolute and resolves symlinks in its parent (not in dir
// itself: a stale mount there cannot even be lstat'ed).
func absDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	parent, base := filepath.Split(abs)
	if real, err := filepath.EvalSymlinks(parent); err == nil {
		parent = real
	}
	if base == "" {
		return filepath.Clean(parent), nil
	}
	return filepath.Join(parent, base), nil
}
