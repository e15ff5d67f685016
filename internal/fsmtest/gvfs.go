//go:build linux

package fsmtest

import (
	"bytes"
	"context"
	"fmt"
	"fsm/internal/proc"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// GNOME gvfs as a real desktop WebDAV client, without a desktop: gvfs needs
// a D-Bus session bus and its master daemon gvfsd, and neither needs a
// display. Gvfs starts a private dbus-daemon on a socket in a private
// XDG_RUNTIME_DIR and /usr/libexec/gvfsd on that bus; gvfsd starts
// gvfsd-fuse (which mounts $XDG_RUNTIME_DIR/gvfs) and one gvfsd-dav per
// mount. Every process of the session has the private XDG_RUNTIME_DIR in
// its environment (the bus hands its own environment to the services it
// activates), which is how cleanup finds them all.

// GvfsdPath is where Debian's gvfs package installs the master daemon.
const GvfsdPath = "/usr/libexec/gvfsd"

// GvfsSession is a private D-Bus session bus with gvfsd on it.
type GvfsSession struct {
	Runtime string   // its XDG_RUNTIME_DIR
	Env     []string // the whole environment for a process of the session
	t       testing.TB
	log     *lockedBuffer
}

// FuseDir is where gvfsd-fuse shows the session's mounts.
func (s *GvfsSession) FuseDir() string { return filepath.Join(s.Runtime, "gvfs") }

// Logf adds a line to the session log, printed when the test fails.
func (s *GvfsSession) Logf(format string, args ...any) { fmt.Fprintf(s.log, format+"\n", args...) }

// Gio runs gio with the session's environment, bounded, and returns its
// standard output (standard error goes to the session log and the error).
func (s *GvfsSession) Gio(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gio", args...)
	cmd.Env = s.Env
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	s.Logf("$ gio %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	if err != nil {
		return out, fmt.Errorf("gio %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// EnvLimit skips the test because the machine lacks something it needs,
// or fails it when the CI environment variable is set: under CI every
// client must be there.
func EnvLimit(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("under CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// GvfsFuse says whether gvfsd starts gvfsd-fuse, which gives mounts their
// local paths.
type GvfsFuse int

const (
	WithFuse    GvfsFuse = iota
	WithoutFuse          // as on a machine without the gvfs-fuse package
)

// NewGvfsSession starts a private session bus and gvfsd, and registers the
// cleanup that leaves no process and no mount of the session behind. It
// skips (fails under CI) when gvfs, dbus or /dev/fuse is missing.
func NewGvfsSession(t testing.TB) *GvfsSession { return NewGvfsSessionFuse(t, WithFuse) }

// NewGvfsSessionFuse is NewGvfsSession with or without gvfsd-fuse.
func NewGvfsSessionFuse(t testing.TB, fuse GvfsFuse) *GvfsSession {
	t.Helper()
	for _, n := range []string{"dbus-daemon", "dbus-send", "gio", "fusermount3"} {
		if _, err := exec.LookPath(n); err != nil {
			EnvLimit(t, "%s is not installed (Debian packages dbus, libglib2.0-bin, fuse3): %v", n, err)
		}
	}
	for _, p := range []string{GvfsdPath, "/usr/libexec/gvfsd-dav", "/usr/libexec/gvfsd-fuse"} {
		if _, err := os.Stat(p); err != nil {
			EnvLimit(t, "%s is missing (Debian packages gvfs, gvfs-backends, gvfs-fuse): %v", p, err)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		EnvLimit(t, "gvfsd-fuse needs /dev/fuse: %v", err)
	}
	// A short path: the bus socket must fit in sun_path.
	runtime, err := os.MkdirTemp("", "fsm-gvfs-")
	if err != nil {
		t.Fatal(err)
	}
	s := &GvfsSession{t: t, Runtime: runtime, log: &lockedBuffer{}}
	var bus string
	if s.Env, bus, err = proc.SessionEnv(runtime); err != nil {
		t.Fatal(err)
	}
	if fuse == WithoutFuse {
		s.Env = append(s.Env, "GVFS_DISABLE_FUSE=1")
	}

	// Registered first, so it runs last: whatever the steps below left.
	t.Cleanup(func() {
		var left []string
		deadline := time.Now().Add(10 * time.Second)
		for {
			pids := s.pids()
			if len(pids) == 0 {
				break
			}
			if time.Now().After(deadline) {
				for _, pid := range pids {
					left = append(left, fmt.Sprintf("%d %s", pid, procName(pid)))
					syscall.Kill(pid, syscall.SIGKILL)
				}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(left) > 0 {
			t.Errorf("gvfs session processes still running 10 s after the bus stopped (killed): %v", left)
		}
		if Mounted(s.FuseDir()) {
			t.Errorf("%s still mounted at the end", s.FuseDir())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			exec.CommandContext(ctx, "fusermount3", "-uz", s.FuseDir()).Run()
			cancel()
		}
		os.RemoveAll(runtime)
		if t.Failed() {
			t.Logf("gvfs session log:\n%s", s.log.String())
		}
	})

	bd := s.startBackground("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address="+bus)
	Eventually(t, "the private session bus", func() bool {
		if bd.ProcessState != nil {
			t.Fatalf("dbus-daemon exited:\n%s", s.log.String())
		}
		_, err := os.Stat(filepath.Join(runtime, "bus"))
		return err == nil
	})
	// Started after the bus, so stopped before it (cleanups run in
	// reverse): gvfsd is asked to quit while it can still tell its mounts.
	s.startBackground(GvfsdPath, "--replace")
	Eventually(t, "gvfsd on the session bus", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "dbus-send", "--session", "--print-reply",
			"--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.gtk.vfs.Daemon")
		cmd.Env = s.Env
		out, err := cmd.CombinedOutput()
		return err == nil && bytes.Contains(out, []byte("boolean true"))
	})
	if fuse == WithFuse {
		Eventually(t, "gvfsd-fuse to mount "+s.FuseDir(), func() bool { return Mounted(s.FuseDir()) })
	}
	return s
}

// startBackground starts a long-running session process in its own process
// group and stops it (SIGTERM, then SIGKILL) at cleanup.
func (s *GvfsSession) startBackground(name string, args ...string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = s.Env
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.t.Cleanup(func() {
		select {
		case <-exited:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			s.t.Logf("%s (pid %d) ignored SIGTERM; killing it", name, cmd.Process.Pid)
			cmd.Process.Kill()
			<-exited
		}
	})
	return cmd
}

// pids lists the live processes whose environment holds this session's
// XDG_RUNTIME_DIR: everything the session started, however it was started.
func (s *GvfsSession) pids() []int { return proc.WithEnv("XDG_RUNTIME_DIR=" + s.Runtime) }

func procName(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// Mounted reports whether dir is a mount point in this mount namespace.
func Mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMountinfo(f[4]) == dir {
			return true
		}
	}
	return false
}

func unescapeMountinfo(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
