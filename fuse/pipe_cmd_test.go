//go:build fuse && linux

package fuse

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/mountinfo"
	"fsm/internal/testorigin"
)

// `fsm serve --fuse DIR 2>&1 | head -1`, then SIGINT: the log lines after
// head has gone fail with EPIPE and must neither kill nor stop fsm; the
// shutdown still unmounts, removes the token file and exits 0.
func TestServeFuseIntoHead(t *testing.T) {
	bin := fsmBinary(t)
	head, err := exec.LookPath("head")
	fsmtest.Require(t, "head", err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir, cache, home := t.TempDir(), t.TempDir(), t.TempDir()
	c := testorigin.Content{Seed: 61, Size: 200_000}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/h.bin"})

	fsm := exec.Command(bin, "serve", "--fuse", dir, "--cache-dir", cache, "--addr", addr, o.URL())
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FSM_") {
			fsm.Env = append(fsm.Env, kv)
		}
	}
	fsm.Env = append(fsm.Env, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fsm.Stdout, fsm.Stderr = w, w // 2>&1
	var headOut bytes.Buffer
	h := exec.Command(head, "-1")
	h.Stdin, h.Stdout = r, &headOut
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	if err := fsm.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()
	done := make(chan error, 1)
	go func() { done <- fsm.Wait() }()
	t.Cleanup(func() {
		fsm.Process.Kill()
		exec.Command("fusermount3", "-u", "-z", dir).Run()
	})
	if err := h.Wait(); err != nil {
		t.Fatalf("head: %v", err)
	}
	t.Logf("head printed: %s", headOut.String())

	fsmtest.Eventually(t, "the mount", func() bool { return mountinfo.Mounted(dir) })
	// Reading through the mount logs lines (staged, downloads) into the
	// broken pipe.
	fsmtest.Eventually(t, "h.bin in the mount", func() bool { _, err := os.Stat(filepath.Join(dir, "h.bin")); return err == nil })
	got, err := os.ReadFile(filepath.Join(dir, "h.bin"))
	if err != nil || !bytes.Equal(got, c.Bytes(0, c.Size)) {
		t.Fatalf("read through the mount after head left: %d bytes, %v", len(got), err)
	}
	resp, err := http.Get("http://" + addr + "/.fsm/api/v1/info")
	if err != nil {
		t.Fatalf("fsm stopped answering once its output pipe broke: %v", err)
	}
	resp.Body.Close()
	token := filepath.Join(home, ".cache", "fsm", "tokens", strings.ReplaceAll(addr, ":", "_"))
	if _, err := os.Stat(token); err != nil {
		t.Fatalf("token file while serving: %v", err)
	}

	fsm.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGINT: %v (want exit 0)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("fsm did not exit after SIGINT")
	}
	if mountinfo.Mounted(dir) {
		t.Error("mount left behind")
	}
	if _, err := os.Stat(token); !os.IsNotExist(err) {
		t.Errorf("token file left: %v", err)
	}
}
