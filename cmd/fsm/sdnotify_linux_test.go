package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// With NOTIFY_SOCKET set (a unit of Type=notify), serve sends READY=1 once
// it serves and STOPPING=1 when its shutdown begins, in that order.
func TestServeNotifiesSystemd(t *testing.T) {
	dir, err := os.MkdirTemp("", "fsm-notify") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan string, 4)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case m, ok := <-got:
			if !ok {
				t.Fatalf("socket closed waiting for %s", what)
			}
			return m
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s", what)
			return ""
		}
	}

	s := startServe(t, []string{"NOTIFY_SOCKET=" + sock, "FSM_CACHE_DIR=" + t.TempDir()})
	if m := next("READY=1"); m != "READY=1" {
		t.Fatalf("first message %q, want READY=1", m)
	}
	if !strings.Contains(s.log.String(), "fsm is serving") {
		t.Errorf("READY=1 before the serving line:\n%s", s.log)
	}
	stopped := make(chan int, 1)
	go func() { stopped <- s.stop(t) }()
	if m := next("STOPPING=1"); m != "STOPPING=1" {
		t.Fatalf("second message %q, want STOPPING=1", m)
	}
	if code := <-stopped; code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.log)
	}
}
