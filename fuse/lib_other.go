//go:build fuse && !(linux || darwin || freebsd)

package fuse

// checkLib cannot probe here; a missing FUSE (WinFsp on Windows) still comes
// back from Mount as an error, since its panic is recovered.
func checkLib() error { return nil }

// libVersion is unknown here.
func libVersion() int { return -1 }
