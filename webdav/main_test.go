package webdav

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"fsm/internal/mountinfo"
)

// TestMain clears mounts that a killed run of this package's client tests
// left behind (their cleanups never ran): rclone and davfs2 mounts in
// t.TempDir() folders named after those tests, and gvfs-fuse under its
// private runtime folder. Mounts of other packages' tests, which may run at
// the same time, are not touched.
func TestMain(m *testing.M) {
	if entries, err := mountinfo.Read(); err == nil {
		tmp := os.TempDir()
		for _, e := range entries {
			rel, err := filepath.Rel(tmp, e.MountPoint)
			if err != nil || strings.HasPrefix(rel, "..") {
				continue
			}
			for _, prefix := range []string{"TestRcloneMount", "TestDavfs2", "fsm-gvfs-"} {
				if strings.HasPrefix(rel, prefix) {
					exec.Command("umount", "-l", e.MountPoint).Run()
				}
			}
		}
	}
	os.Exit(m.Run())
}
