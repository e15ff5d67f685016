package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// listen binds a unixgram socket at addr (a path, or @name for the
// abstract namespace) and returns a function that reads one datagram.
func listen(t *testing.T, addr string) func() string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return func() string {
		t.Helper()
		// The datagram is already queued when Notify returns; the deadline
		// only turns a missing one into a failure instead of a hang.
		if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4096)
		n, err := conn.Read(b)
		if err != nil {
			t.Fatalf("reading the notification: %v", err)
		}
		return string(b[:n])
	}
}

func TestNotifySends(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("systemd and abstract socket names are Linux only")
	}
	cases := []struct {
		name   string
		addr   func(t *testing.T) string
		notify func() error
		want   string
	}{
		{"ready on a path", pathAddr, Ready, "READY=1"},
		{"stopping on a path", pathAddr, Stopping, "STOPPING=1"},
		{"ready on an abstract name", abstractAddr, Ready, "READY=1"},
		{"stopping on an abstract name", abstractAddr, Stopping, "STOPPING=1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			read := listen(t, addr)
			t.Setenv("NOTIFY_SOCKET", addr)
			if err := tc.notify(); err != nil {
				t.Fatal(err)
			}
			if got := read(); got != tc.want {
				t.Errorf("received %q, want %q", got, tc.want)
			}
		})
	}
}

func pathAddr(t *testing.T) string {
	// A short directory: a socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "sdnotify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "notify")
}

func abstractAddr(t *testing.T) string {
	return fmt.Sprintf("@fsm-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
}

func TestNotifyWithoutSocketDoesNothing(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Ready(); err != nil {
		t.Errorf("Ready without NOTIFY_SOCKET: %v", err)
	}
	if err := Stopping(); err != nil {
		t.Errorf("Stopping without NOTIFY_SOCKET: %v", err)
	}
}

func TestNotifyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, addr  string
		unsupported bool
	}{
		{"vsock", "vsock:2:1234", true},
		{"relative path", "run/notify", true},
		{"nobody listening", filepath.Join(t.TempDir(), "absent"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", tc.addr)
			err := Ready()
			if err == nil {
				t.Fatal("Ready succeeded")
			}
			if errors.Is(err, errUnsupported) != tc.unsupported {
				t.Errorf("Ready: %v; unsupported form: %v, want %v", err, errors.Is(err, errUnsupported), tc.unsupported)
			}
			if !strings.Contains(err.Error(), "sdnotify") {
				t.Errorf("error %q does not say it is from sdnotify", err)
			}
		})
	}
}
