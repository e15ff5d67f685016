package vfs

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParents(t *testing.T) {
	for name, want := range map[string][]string{
		"a":       nil,
		"a/b":     {"a"},
		"a/b/c.x": {"a/b", "a"},
	} {
		if got := parents(name); !slices.Equal(got, want) {
			t.Errorf("parents(%q) = %q, want %q", name, got, want)
		}
	}
}

// A name of any length is refused before the tree's lock is taken: with
// the lock held elsewhere, reserve still answers at once.
func TestReserveChecksOutsideTheLock(t *testing.T) {
	f := &FS{files: map[string]*File{}, pending: map[string]bool{}, opts: Options{MaxFiles: DefaultMaxFiles}}
	huge := strings.Repeat("a/", 32000) + "b" // 64 KB, 32,001 levels
	f.mu.Lock()
	defer f.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- f.reserve(huge) }()
	if err := <-done; !errors.Is(err, ErrBadName) {
		t.Fatalf("reserve(64 KB name) = %v, want ErrBadName", err)
	}
}
