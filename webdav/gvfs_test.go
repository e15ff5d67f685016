package webdav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fsm/guard"
	"fsm/internal/fsmtest"
)

// GNOME gvfs (Debian packages gvfs, gvfs-backends, gvfs-fuse, dbus,
// libglib2.0-bin) as a real client: what Nautilus and every GIO program use
// for dav:// locations.
//
// gvfs needs a D-Bus session bus and its master daemon gvfsd; neither
// needs a desktop. The test runs both privately: its own dbus-daemon on a
// socket in a private XDG_RUNTIME_DIR, and /usr/libexec/gvfsd started by
// the test on that bus. gvfsd starts gvfsd-fuse, which mounts
// $XDG_RUNTIME_DIR/gvfs, and gvfsd-dav for the mount. Every process of
// the session has the private XDG_RUNTIME_DIR in its environment (the bus
// hands its own environment to the services it activates), which is how
// cleanup finds them all.
//
// The commands are the gio(1) a user types: mount, list, info, cat, and
// mount -u. A read at an offset through the gvfs-fuse mount makes gvfsd-dav
// seek its HTTP stream, which it does with a new GET carrying
// "Range: bytes=N-" and checking that Content-Range starts at N.

const gvfsdPath = "/usr/libexec/gvfsd"

// gvfsSession is a private D-Bus session with gvfsd on it.
type gvfsSession struct {
	t       *testing.T
	runtime string   // XDG_RUNTIME_DIR
	env     []string // for every child
	log     *syncBuffer
}

// gioOut runs gio with the session's environment, bounded, and returns its
// standard output (standard error goes to the session log).
func (s *gvfsSession) gio(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gio", args...)
	cmd.Env = s.env
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	fmt.Fprintf(s.log, "$ gio %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	if err != nil {
		return out, fmt.Errorf("gio %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// startBackground starts a long-running session process in its own process
// group and stops it (SIGTERM, then SIGKILL) at cleanup.
func (s *gvfsSession) startBackground(name string, args ...string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = s.env
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

// sessionPids lists the processes whose environment holds this session's
// XDG_RUNTIME_DIR: everything the session started, however it was started.
func (s *gvfsSession) sessionPids() []int {
	want := []byte("XDG_RUNTIME_DIR=" + s.runtime + "\x00")
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(b, want) {
			continue
		}
		// (An exited process has no environ to read: a zombie waiting for
		// init, which reaps slowly on some machines, never matches.)
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
				continue // exited, not yet reaped
			}
		}
		out = append(out, pid)
	}
	return out
}

func procName(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// newGvfsSession starts a private session bus and gvfsd, and registers the
// cleanup that leaves no process and no mount behind.
func newGvfsSession(t *testing.T) *gvfsSession {
	t.Helper()
	needBinary(t, "dbus-daemon", "dbus-send", "gio", "fusermount3")
	for _, p := range []string{gvfsdPath, "/usr/libexec/gvfsd-dav", "/usr/libexec/gvfsd-fuse"} {
		if _, err := os.Stat(p); err != nil {
			envLimit(t, "%s is missing (Debian packages gvfs, gvfs-backends, gvfs-fuse): %v", p, err)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		envLimit(t, "gvfsd-fuse needs /dev/fuse: %v", err)
	}
	// A short path: the bus socket must fit in sun_path.
	runtime, err := os.MkdirTemp("", "fsm-gvfs-")
	if err != nil {
		t.Fatal(err)
	}
	s := &gvfsSession{t: t, runtime: runtime, log: &syncBuffer{}}
	home := filepath.Join(runtime, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	bus := "unix:path=" + filepath.Join(runtime, "bus")
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "DISPLAY" || k == "WAYLAND_DISPLAY" || k == "HOME" || k == "GIO_USE_VFS" || k == "GVFS_DISABLE_FUSE",
			strings.HasPrefix(k, "DBUS_"), strings.HasPrefix(k, "XDG_"):
			continue
		}
		s.env = append(s.env, kv)
	}
	s.env = append(s.env,
		"HOME="+home,
		"XDG_RUNTIME_DIR="+runtime,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local/share"),
		"DBUS_SESSION_BUS_ADDRESS="+bus,
		"GIO_USE_VOLUME_MONITOR=unix",
		"GVFS_DEBUG=1",
	)

	// Registered first, so it runs last: whatever the steps below left.
	t.Cleanup(func() {
		var left []string
		deadline := time.Now().Add(10 * time.Second)
		for {
			pids := s.sessionPids()
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
		fuseDir := filepath.Join(runtime, "gvfs")
		if mounted(fuseDir) {
			t.Errorf("%s still mounted at the end", fuseDir)
			runFor(10*time.Second, "fusermount3", "-uz", fuseDir)
		}
		os.RemoveAll(runtime)
		if t.Failed() {
			t.Logf("gvfs session log:\n%s", s.log.String())
		}
	})

	bd := s.startBackground("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address="+bus)
	fsmtest.Eventually(t, "the private session bus", func() bool {
		if bd.ProcessState != nil {
			t.Fatalf("dbus-daemon exited:\n%s", s.log.String())
		}
		_, err := os.Stat(filepath.Join(runtime, "bus"))
		return err == nil
	})
	// Started before the bus stops (cleanups run in reverse), so gvfsd is
	// asked to quit while it can still tell its mounts.
	s.startBackground(gvfsdPath, "--replace")
	fsmtest.Eventually(t, "gvfsd on the session bus", func() bool {
		out, err := runWithEnv(s.env, 10*time.Second, "dbus-send", "--session", "--print-reply",
			"--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", "string:org.gtk.vfs.Daemon")
		return err == nil && strings.Contains(out, "boolean true")
	})
	return s
}

func runWithEnv(env []string, d time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestGvfs(t *testing.T) {
	s := newGvfsSession(t)
	reqs := &recorder{}
	e := newEnv(t, envOptions{names: []string{"movie.mp4", "docs/read me.txt"}, wrap: func(h http.Handler) http.Handler {
		// As the product serves it: behind the Host check.
		return reqs.wrap(guard.Host(h, nil, "127.0.0.1:0"))
	}})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("requests gvfs sent:\n%s", reqs)
		}
	})
	root := "dav://" + strings.TrimPrefix(e.srv.URL, "http://") + "/"
	whole := e.content.Bytes(0, e.content.Size)

	if _, err := s.gio("mount", root); err != nil {
		t.Fatal(err)
	}
	unmounted := false
	t.Cleanup(func() {
		if !unmounted {
			if _, err := s.gio("mount", "-u", root); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})

	out, err := s.gio("list", root)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, []string{"docs", "movie.mp4"}) {
		t.Errorf("gio list %s: %q", root, got)
	}
	out, err = s.gio("list", root+"docs/")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "read me.txt" {
		t.Errorf("gio list docs/: %q", got)
	}

	f := e.file("movie.mp4")
	if n := e.originGETs(); n != 0 {
		t.Errorf("mounting and listing made %d origin GETs", n)
	}
	out, err = s.gio("info", "-a", "standard::size,standard::content-type,etag::value,time::modified", root+"movie.mp4")
	if err != nil {
		t.Fatal(err)
	}
	info := string(out)
	for _, want := range []string{
		"standard::size: " + strconv.FormatInt(e.content.Size, 10),
		"standard::content-type: video/mp4",
		"etag::value: " + f.ETag, // gvfs keeps the quotes
		"time::modified: " + strconv.FormatInt(f.ModTime.Unix(), 10),
	} {
		if !strings.Contains(info, want) {
			t.Errorf("gio info movie.mp4 lacks %q:\n%s", want, info)
		}
	}
	if _, err := s.gio("info", root+"missing.txt"); err == nil {
		t.Errorf("gio info of a name fsm does not have succeeded")
	}
	if n := e.originGETs(); n != 0 {
		t.Errorf("gio info made %d origin GETs", n)
	}

	body, err := s.gio("cat", root+"movie.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, whole) {
		t.Fatalf("gio cat movie.mp4: %d bytes, not the origin's %d", len(body), len(whole))
	}
	body, err = s.gio("cat", root+"docs/read%20me.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, whole) {
		t.Fatalf("gio cat docs/read me.txt: %d bytes, not the origin's %d", len(body), len(whole))
	}

	// Writes through gio are refused and nothing reaches the tree.
	src := filepath.Join(t.TempDir(), "up.txt")
	os.WriteFile(src, []byte("hello"), 0o644)
	if _, err := s.gio("copy", src, root+"up.txt"); err == nil {
		t.Errorf("gio copy onto the read-only tree succeeded")
	}
	if _, err := s.gio("mkdir", root+"newdir"); err == nil {
		t.Errorf("gio mkdir on the read-only tree succeeded")
	}
	if _, err := s.gio("remove", root+"movie.mp4"); err == nil {
		t.Errorf("gio remove on the read-only tree succeeded")
	}
	for _, n := range []string{"up.txt", "newdir"} {
		if _, err := e.fs.Lookup(n); err == nil {
			t.Errorf("%s appeared in fsm's tree", n)
		}
	}
	if _, err := e.fs.Lookup("movie.mp4"); err != nil {
		t.Errorf("movie.mp4 left fsm's tree: %v", err)
	}

	// The seek: through gvfsd-fuse, a read at an offset makes gvfsd-dav seek
	// its open HTTP stream, which it does with a new "Range: bytes=N-" GET.
	fuseDir := filepath.Join(s.runtime, "gvfs")
	fsmtest.Eventually(t, "gvfsd-fuse to mount "+fuseDir, func() bool { return mounted(fuseDir) })
	var share string
	fsmtest.Eventually(t, "the dav mount under "+fuseDir, func() bool {
		ents, err := os.ReadDir(fuseDir)
		for _, en := range ents {
			if strings.HasPrefix(en.Name(), "dav:") {
				share = filepath.Join(fuseDir, en.Name())
				return true
			}
		}
		return err == nil && false
	})
	fh, err := os.Open(filepath.Join(share, "movie.mp4"))
	if err != nil {
		t.Fatalf("open through gvfs-fuse: %v", err)
	}
	p := make([]byte, 4096)
	if _, err := fh.ReadAt(p, 0); err != nil || !bytes.Equal(p, e.content.Bytes(0, 4096)) {
		t.Errorf("ReadAt 0 through gvfs-fuse: %v", err)
	}
	const off = 2_000_000
	if _, err := fh.ReadAt(p, off); err != nil || !bytes.Equal(p, e.content.Bytes(off, 4096)) {
		t.Errorf("ReadAt %d through gvfs-fuse: %v", off, err)
	}
	fh.Close()
	// The kernel reads whole pages (and reads ahead), so the seek lands on
	// the page boundary at or below the offset asked.
	seekTo := func(r recorded) bool {
		spec, ok := strings.CutPrefix(r.header.Get("Range"), "bytes=")
		startText, end, ok2 := strings.Cut(spec, "-")
		start, err := strconv.ParseInt(startText, 10, 64)
		return r.method == http.MethodGet && ok && ok2 && end == "" && err == nil && start <= off && off-start < 1<<20
	}
	fsmtest.Eventually(t, fmt.Sprintf("a GET with Range: bytes=N- for N just below %d", off), func() bool {
		return len(reqs.find(seekTo)) > 0
	})
	if open := reqs.find(func(r recorded) bool { return !r.done }); len(open) > 0 {
		t.Logf("after the file was closed gvfs still holds these GETs open (it drops them at unmount): %v", open)
	}

	if _, err := s.gio("mount", "-u", root); err != nil {
		t.Errorf("unmount: %v", err)
	}
	unmounted = true
	fsmtest.Eventually(t, "the dav mount to leave "+fuseDir, func() bool {
		_, err := os.Stat(share)
		return errors.Is(err, os.ErrNotExist)
	})

	// gvfsd-dav has exited, so any GET it abandoned has ended too.
	fsmtest.Eventually(t, "fsm to finish every request after the unmount", reqs.idle)
	for _, r := range reqs.all() {
		if r.code >= 500 {
			t.Errorf("server error: %v", r)
		}
		if r.code >= 200 && r.code < 300 && !slices.Contains([]string{"OPTIONS", "PROPFIND", "GET", "HEAD"}, r.method) {
			t.Errorf("a write method succeeded: %v", r)
		}
		if r.method == http.MethodGet && r.header.Get("Range") != "" {
			start, _, _ := strings.Cut(strings.TrimPrefix(r.header.Get("Range"), "bytes="), "-")
			if r.code != http.StatusPartialContent || !strings.HasPrefix(r.contentRange, "bytes "+start+"-") {
				t.Errorf("ranged GET not answered from where it asked: %v", r)
			}
		}
	}
	t.Logf("requests gvfs sent:\n%s", reqs)
}
