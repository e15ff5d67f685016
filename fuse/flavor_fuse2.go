//go:build fuse && !fuse3

package fuse

// isFuse3: built against libfuse 2 (or macFUSE/FUSE-T, WinFsp).
const isFuse3 = false
