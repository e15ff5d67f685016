//go:build fuse && fuse3

package fuse

// isFuse3: built against libfuse3 (cgofuse's fuse3 tag).
const isFuse3 = true
