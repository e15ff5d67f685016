//go:build !fuse

package fuse

import (
	"errors"
	"strings"
	"testing"
)

func TestStubNotBuilt(t *testing.T) {
	m, err := Mount(nil, t.TempDir(), Options{})
	if m != nil || !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("Mount = %v, %v; want nil, ErrNotBuilt", m, err)
	}
	if err := Check(t.TempDir()); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("Check = %v; want ErrNotBuilt", err)
	}
	for _, want := range []string{"-tags fuse,fuse3", "README"} {
		if !strings.Contains(ErrNotBuilt.Error(), want) {
			t.Errorf("ErrNotBuilt %q does not mention %q", ErrNotBuilt, want)
		}
	}
	var nilMount *Mounted
	select {
	case <-nilMount.Done():
	default:
		t.Error("Done of the stub is not closed")
	}
}
