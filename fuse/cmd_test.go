//go:build fuse

package fuse

import (
	"bufio"
	"bytes"
	"errors"
	"fsm/internal/fsmtest"
	"fsm/internal/mountinfo"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// TestServeBinary runs the real fsm binary with --fuse, reads a file through
// its mount, sends SIGTERM and checks the shutdown: exit status 0, no mount
// left, no temp file left.
func TestServeBinary(t *testing.T) {
	requireFUSE(t)
	if testing.Short() {
		t.Skip("builds the fsm binary")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "fsm")); err != nil {
		t.Skipf("no cmd/fsm: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "fsm")
	tags := "fuse"
	if isFuse3 {
		tags = "fuse,fuse3"
	}
	build := exec.Command("go", "build", "-tags", tags, "-o", bin, "./cmd/fsm")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %s ./cmd/fsm: %v\n%s", tags, err, out)
	}

	const size = 3<<20 + 5
	content := testorigin.Content{Seed: 9, Size: size}
	origin := testorigin.New(t, testorigin.Options{Content: content})
	blocked := testorigin.New(t, testorigin.Options{Content: content, Name: "/blocked.bin"})
	cache := t.TempDir()
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--fuse", dir, "--cache-dir", cache, "--addr", "127.0.0.1:0", origin.URL(), blocked.URL())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	live := make(chan struct{})
	var logBuf bytes.Buffer
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			logBuf.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), "FUSE mount is live") {
				seen = true
				close(live)
			}
		}
	}()
	go func() {
		<-logDone // Wait closes the pipe: read it all first
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { // if the test failed before SIGTERM
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
			exec.Command(fusermount(), "-uz", dir).Run()
		}
	})
	select {
	case <-live:
	case err := <-exited:
		t.Fatalf("fsm exited before mounting: %v\n%s", err, logBuf.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("fsm did not mount within 60 s")
	}

	// Sources are staged in the background: wait until both are listed.
	fsmtest.Eventually(t, "both sources staged", func() bool {
		_, err1 := os.Stat(filepath.Join(dir, "file.bin"))
		_, err2 := os.Stat(filepath.Join(dir, "blocked.bin"))
		return err1 == nil && err2 == nil
	})
	data, err := os.ReadFile(filepath.Join(dir, "file.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, content.Bytes(0, size)) {
		t.Fatalf("read %d bytes through the mount; they differ from the origin's", len(data))
	}
	// A read blocked on a stalled origin at SIGTERM must not keep fsm from
	// exiting cleanly: shutdown fails it, the reader closes its file.
	release := blocked.Block()
	defer release()
	readErr := make(chan error, 1)
	go func() {
		f, err := os.Open(filepath.Join(dir, "blocked.bin"))
		if err != nil {
			readErr <- err
			return
		}
		_, err = f.ReadAt(make([]byte, 4096), 0)
		f.Close()
		readErr <- err
	}()
	fsmtest.Eventually(t, "a FUSE read blocked on the origin", func() bool { return blocked.Waiting() > 0 })

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("fsm did not exit within 60 s of SIGTERM\n%s", logBuf.String())
	}
	if err := <-readErr; !errors.Is(err, syscall.EIO) {
		t.Errorf("read blocked at shutdown: %v, want EIO", err)
	}
	if werr != nil {
		t.Errorf("fsm exited with %v after SIGTERM\n%s", werr, logBuf.String())
	}
	mounts, err := mountinfo.Read()
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := mountinfo.At(mounts, dir); ok {
		t.Errorf("mount left at %s after exit: %+v", dir, e)
		exec.Command(fusermount(), "-uz", dir).Run()
	}
	var left []string
	filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".part") {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("temp files left in the cache dir: %v", left)
	}
}
