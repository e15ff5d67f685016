//go:build !fuse

package fuse

import (
	"context"

	"fsm/vfs"
)

// Mounted is a live FUSE mount. In this build there is none.
type Mounted struct{}

// Mount always fails with ErrNotBuilt in a build without the fuse tag.
func Mount(fsys *vfs.FS, dir string, opts Options) (*Mounted, error) {
	return nil, ErrNotBuilt
}

// Library is empty: this build has no FUSE support.
func Library() string { return "" }

// Check always fails with ErrNotBuilt in a build without the fuse tag.
func Check(dir string) error { return ErrNotBuilt }

// Unmount does nothing in a build without the fuse tag.
func (m *Mounted) Unmount(ctx context.Context) error { return nil }

// Drain does nothing in a build without the fuse tag.
func (m *Mounted) Drain(ctx context.Context) error { return nil }

// Detach does nothing in a build without the fuse tag.
func (m *Mounted) Detach() error { return nil }

// Done returns a closed channel in a build without the fuse tag.
func (m *Mounted) Done() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// Dir is empty in a build without the fuse tag.
func (m *Mounted) Dir() string { return "" }
