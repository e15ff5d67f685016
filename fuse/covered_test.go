//go:build fuse && linux

package fuse

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/mountinfo"
	"fsm/store"
)

// A mount placed over fsm's mount is never removed by fsm; Unmount says at
// once that fsm's mount stays beneath it and how to remove it, instead of
// waiting and claiming it was detached. Once the other mount is gone,
// Unmount removes fsm's.
func TestMountOverFsmMountIsLeftAndNamed(t *testing.T) {
	requireFUSE(t)
	if os.Geteuid() != 0 {
		fsmtest.Require(t, "root (to mount a tmpfs)", fmt.Errorf("running as uid %d", os.Geteuid()))
	}
	fsys, _ := fsmtest.Tree(t, store.Options{})
	dir := t.TempDir()
	m, err := Mount(fsys, dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	const source = "fsm-test-over"
	if err := syscall.Mount(source, dir, "tmpfs", 0, "size=1m"); err != nil {
		m.Detach()
		t.Fatalf("mount a tmpfs over fsm's mount: %v", err)
	}
	tmpfsOnTop := func() bool { return topAt(dir).Source == source }
	t.Cleanup(func() {
		if tmpfsOnTop() {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		m.Unmount(ctx)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = m.Unmount(ctx)
	if ctx.Err() != nil {
		t.Errorf("Unmount waited for its deadline: %v", err)
	}
	if err == nil {
		t.Fatal("Unmount reported success with fsm's mount covered")
	}
	for _, want := range []string{dir, "tmpfs from " + source, "stays beneath", fusermount() + " -u " + dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Unmount: %v; want it to say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "detached") {
		t.Errorf("Unmount: %v; says detached, but fsm's mount is still there", err)
	}
	if !tmpfsOnTop() {
		t.Fatalf("the mount over fsm's was removed: top mount is %+v", topAt(dir))
	}
	if !ownBeneath(t, dir) {
		t.Fatal("fsm's mount is gone from beneath the tmpfs: nothing to report")
	}
	// Detach, a second signal's exit, says the same and touches nothing.
	if err := m.Detach(); err == nil || !strings.Contains(err.Error(), "stays beneath") {
		t.Errorf("Detach: %v; want it to say fsm's mount stays", err)
	}
	if !tmpfsOnTop() {
		t.Fatal("Detach removed the mount over fsm's")
	}

	// The other mount goes: fsm's is removed now.
	if err := syscall.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmount(ctx); err != nil {
		t.Fatalf("Unmount after the other mount went: %v", err)
	}
	assertUnmounted(t, m)
}

func ownBeneath(t *testing.T, dir string) bool {
	t.Helper()
	mounts, err := mountinfo.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range mounts {
		if e.MountPoint == dir && e.FSType == fsType {
			return true
		}
	}
	return false
}

func topAt(dir string) mountinfo.Entry {
	mounts, _ := mountinfo.Read()
	e, _ := mountinfo.At(mounts, dir)
	return e
}
