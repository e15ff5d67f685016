package vfs

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultMaxFiles is how many files a tree holds when Options.MaxFiles is
// 0: every staged file costs memory (about 4 KB with its store) and every
// staging walks the tree, so a client must not be able to stage without
// end.
const DefaultMaxFiles = 100_000

// ErrTooMany marks a staging refused because the tree holds as many files
// as it may (staged and being staged).
var ErrTooMany = errors.New("too many files")

// fullLocked says why one more file cannot be staged, or nil. Files being
// staged count: their names are reserved, as do folders' files queued.
func (f *FS) fullLocked() error {
	if limit := f.opts.MaxFiles; len(f.files)+len(f.pending)+f.queued >= limit {
		return fmt.Errorf("%w: fsm already holds %d staged files, its limit; unstage some first", ErrTooMany, limit)
	}
	return nil
}

// parents lists the folders that hold name, innermost first ("a/b/c" →
// "a/b", "a"). name is clean; the folders are slices of it, so finding
// them is one pass over the name, done before the tree's lock is taken.
func parents(name string) []string {
	var out []string
	for i := strings.LastIndexByte(name, '/'); i > 0; i = strings.LastIndexByte(name[:i], '/') {
		out = append(out, name[:i])
	}
	return out
}
