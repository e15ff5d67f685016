//go:build fuse && linux

package fuse

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"fsm/internal/fsmtest"
	"fsm/store"
)

// A dead FUSE mount of another program at the mount point is not fsm's to
// remove: Mount says so and leaves it.
func TestForeignStaleMountIsLeftAlone(t *testing.T) {
	requireFUSE(t)
	rclone, err := exec.LookPath("rclone")
	fsmtest.Require(t, "rclone (to make a foreign FUSE mount)", err)
	dir := t.TempDir()
	cmd := exec.Command(rclone, "mount", ":memory:", dir, "--read-only")
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+os.DevNull)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if top(dir).FSType == "fuse.rclone" {
			exec.Command(fusermount(), "-uz", dir).Run()
		}
	})
	fsmtest.Eventually(t, "the rclone mount", func() bool { return top(dir).FSType == "fuse.rclone" })
	cmd.Process.Kill() // a crash: the mount stays, dead
	cmd.Wait()
	if _, err := os.Stat(dir); !isStale(err) {
		t.Fatalf("after killing rclone, stat = %v; want a dead mount", err)
	}

	fsys, _ := fsmtest.Tree(t, store.Options{})
	m, err := Mount(fsys, dir, Options{Logger: testLogger(t)})
	if err == nil {
		m.Unmount(t.Context())
		t.Fatal("Mount over another program's dead mount succeeded")
	}
	if !strings.Contains(err.Error(), "not a mount of fsm") || !strings.Contains(err.Error(), "fuse.rclone") {
		t.Errorf("Mount: %v; want it to name the foreign mount and leave it", err)
	}
	if e := top(dir); e.FSType != "fuse.rclone" {
		t.Errorf("the foreign dead mount was removed: top mount is %+v", e)
	}
}
