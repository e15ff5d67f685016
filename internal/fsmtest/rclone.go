package fsmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"fsm/internal/mountinfo"
)

// RcloneMount mounts the WebDAV tree at url read-only with rclone (no VFS
// cache, an empty config) into a new temp dir, waits for the mount, and
// unmounts it at cleanup; rclone's log is printed if the test failed.
func RcloneMount(t testing.TB, url string) string {
	t.Helper()
	for _, n := range []string{"rclone", "fusermount3"} {
		_, err := exec.LookPath(n)
		Require(t, n+" (Debian packages rclone, fuse3)", err)
	}
	_, err := os.Stat("/dev/fuse")
	Require(t, "/dev/fuse for rclone mount", err)
	dir := t.TempDir()
	scratch := t.TempDir()
	conf := filepath.Join(scratch, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(scratch, "rclone.log")
	cmd := exec.Command("rclone", "mount", ":webdav:", dir, "--webdav-url="+url,
		"--read-only", "--vfs-cache-mode=off", "--log-file="+logFile, "-v")
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Registered after the TempDirs, so it runs before their removal.
	t.Cleanup(func() {
		if mountinfo.Mounted(dir) {
			if out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput(); err != nil {
				t.Logf("fusermount3 -u: %v %s", err, out)
				exec.Command("fusermount3", "-uz", dir).Run()
			}
		}
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("rclone log:\n%s", b)
		}
	})
	Eventually(t, "rclone mount", func() bool {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logFile)
			t.Fatalf("rclone mount exited: %v\n%s", err, b)
		default:
		}
		return mountinfo.Mounted(dir)
	})
	return dir
}
