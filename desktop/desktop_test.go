//go:build linux

package desktop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fsm/guard"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
	"fsm/webdav"
)

// These tests drive real gvfs (Debian packages gvfs, gvfs-backends,
// gvfs-fuse, dbus, libglib2.0-bin) in a private D-Bus session against a
// real fsm WebDAV handler over a real loopback origin. They skip where gvfs
// is missing, and fail instead under CI.

// tree is one staged file served by fsm's WebDAV handler.
type tree struct {
	content testorigin.Content
	url     string // http://127.0.0.1:PORT/
}

func newTree(t *testing.T, wrap func(http.Handler) http.Handler) *tree {
	t.Helper()
	log := testLogger(t)
	content := testorigin.Content{Seed: 7, Size: 3<<20 + 123}
	origin := testorigin.New(t, testorigin.Options{Content: content})
	fsys, _ := fsmtest.Tree(t, store.Options{Logger: log})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := fsys.Stage(ctx, vfs.Request{URL: origin.URL(), Name: "docs/file.bin"}); err != nil {
		t.Fatal(err)
	}
	var h http.Handler = webdav.NewHandler(fsys, webdav.Options{Logger: log})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &tree{content: content, url: srv.URL + "/"}
}

func (tr *tree) location() string { return "dav://" + strings.TrimPrefix(tr.url, "http://") }

// testLogger logs to t until the test ends, then drops lines (background
// downloads may still log while cleanups run).
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    *testing.T
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func mountCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mustMount mounts and registers an Unmount at cleanup (before the
// session's own cleanup, which checks that nothing is left).
func mustMount(t *testing.T, url string, opts Options) *Mounted {
	t.Helper()
	m, err := Mount(mountCtx(t), url, opts)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(mountCtx(t)); err != nil {
			t.Errorf("cleanup Unmount: %v", err)
		}
	})
	return m
}

func (tr *tree) checkRead(t *testing.T, root string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(root, "docs", "file.bin"))
	if err != nil {
		t.Fatalf("read through the mount: %v", err)
	}
	if !bytes.Equal(got, tr.content.Bytes(0, tr.content.Size)) {
		t.Fatalf("read %d bytes through the mount, not the origin's %d", len(got), tr.content.Size)
	}
}

func gone(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

func TestMountReadUnmount(t *testing.T) {
	t.Parallel()
	s := fsmtest.NewGvfsSession(t)
	tr := newTree(t, func(h http.Handler) http.Handler { return guard.Host(h, nil, "127.0.0.1:0") })
	m := mustMount(t, tr.url, Options{Logger: testLogger(t), Env: s.Env})

	if dir := filepath.Dir(m.Path()); dir != s.FuseDir() {
		t.Errorf("Path %s is not under gvfsd-fuse's %s", m.Path(), s.FuseDir())
	}
	tr.checkRead(t, m.Path())

	if err := m.Unmount(mountCtx(t)); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if !gone(m.Path()) {
		t.Errorf("%s still there after Unmount", m.Path())
	}
	if _, err := s.Gio("info", tr.location()); err == nil || !strings.Contains(err.Error(), "not mounted") {
		t.Errorf("gio info after Unmount: %v, want not mounted", err)
	}
	if err := m.Unmount(mountCtx(t)); err != nil {
		t.Errorf("second Unmount: %v", err)
	}
}

func TestMountBasicAuth(t *testing.T) {
	t.Parallel()
	s := fsmtest.NewGvfsSession(t)
	tr := newTree(t, func(h http.Handler) http.Handler { return guard.BasicAuth(h, "alice", "s3cret pass", "fsm") })

	_, err := Mount(mountCtx(t), tr.url, Options{Logger: testLogger(t), Env: s.Env, User: "alice", Password: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("Mount with a wrong password: %v, want the credentials refused", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error shows the password: %v", err)
	}
	if _, err := s.Gio("info", tr.location()); err == nil {
		t.Errorf("a refused mount left %s mounted", tr.location())
	}

	m := mustMount(t, tr.url, Options{Logger: testLogger(t), Env: s.Env, User: "alice", Password: "s3cret pass"})
	tr.checkRead(t, m.Path())
}

// A location that was mounted before Mount (by the user) is reused and
// left mounted by Unmount.
func TestMountReusesExisting(t *testing.T) {
	t.Parallel()
	s := fsmtest.NewGvfsSession(t)
	tr := newTree(t, nil)
	if _, err := s.Gio("mount", tr.location()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := s.Gio("mount", "-u", tr.location()); err != nil {
			t.Errorf("the user's own unmount: %v", err)
		}
	})
	var logs bytes.Buffer
	m, err := Mount(mountCtx(t), tr.url, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Env: s.Env})
	if err != nil {
		t.Fatalf("Mount over an existing mount: %v", err)
	}
	if !strings.Contains(logs.String(), "already mounted") {
		t.Errorf("no log line says the mount was reused:\n%s", logs.String())
	}
	tr.checkRead(t, m.Path())
	if err := m.Unmount(mountCtx(t)); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if _, err := s.Gio("info", tr.location()); err != nil {
		t.Errorf("Unmount took down a mount it did not make: %v", err)
	}
	tr.checkRead(t, m.Path())
}

func TestMountWithoutGio(t *testing.T) {
	t.Setenv("PATH", "")
	_, err := Mount(mountCtx(t), "http://127.0.0.1:9/", Options{Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "gio not found") || !strings.Contains(err.Error(), "install gvfs") {
		t.Fatalf("Mount without gio: %v, want gio not found and what to install", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the reason is not one line: %q", err)
	}
}

func TestMountWithoutSessionBus(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("gio")
	fsmtest.Require(t, "gio (Debian package libglib2.0-bin)", err)
	env := []string{"DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=" + t.TempDir()}
	_, err = Mount(mountCtx(t), "http://127.0.0.1:9/", Options{Logger: testLogger(t), Env: env})
	if err == nil || !strings.Contains(err.Error(), "no D-Bus session bus") {
		t.Fatalf("Mount without a session bus: %v, want no D-Bus session bus", err)
	}
}

func TestMountRejectsURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://127.0.0.1:21/", "http://127.0.0.1/", "not a url\x00"} {
		if _, err := Mount(mountCtx(t), u, Options{Logger: testLogger(t)}); err == nil || !strings.Contains(err.Error(), "desktop mount") {
			t.Errorf("Mount(%q): %v, want a refusal", u, err)
		}
	}
}

// Without gvfsd-fuse gvfs mounts the location but gives it no local path:
// Mount says what to install and takes its mount down again.
func TestMountWithoutGvfsFuse(t *testing.T) {
	t.Parallel()
	s := fsmtest.NewGvfsSessionFuse(t, fsmtest.WithoutFuse)
	tr := newTree(t, nil)
	_, err := Mount(mountCtx(t), tr.url, Options{Logger: testLogger(t), Env: s.Env})
	if err == nil || !strings.Contains(err.Error(), "no local path") || !strings.Contains(err.Error(), "install gvfs-fuse") {
		t.Fatalf("Mount without gvfsd-fuse: %v, want no local path and what to install", err)
	}
	if _, err := s.Gio("info", tr.location()); err == nil || !strings.Contains(err.Error(), "not mounted") {
		t.Errorf("the useless mount was left behind: gio info says %v", err)
	}
}

// A program still holding a file open does not keep the mount up.
func TestUnmountWithFileOpen(t *testing.T) {
	t.Parallel()
	s := fsmtest.NewGvfsSession(t)
	tr := newTree(t, nil)
	m := mustMount(t, tr.url, Options{Logger: testLogger(t), Env: s.Env})
	f, err := os.Open(filepath.Join(m.Path(), "docs", "file.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := make([]byte, 1<<20)
	if _, err := io.ReadFull(f, p); err != nil || !bytes.Equal(p, tr.content.Bytes(0, int64(len(p)))) {
		t.Fatalf("read through the mount: %v", err)
	}
	if err := m.Unmount(mountCtx(t)); err != nil {
		t.Fatalf("Unmount with a file open: %v", err)
	}
	if !gone(m.Path()) {
		t.Errorf("%s still there after Unmount", m.Path())
	}
	if _, err := s.Gio("info", tr.location()); err == nil {
		t.Errorf("still mounted after Unmount")
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	base := errors.New("mount_webdav: http://alice:p%40ss w@127.0.0.1:1/ refused p@ss w")
	err := redact(base, "p@ss w", "p%40ss w", "")
	if got := err.Error(); strings.Contains(got, "p@ss") || strings.Contains(got, "p%40ss") || !strings.Contains(got, "alice:xxxxx@") {
		t.Errorf("redacted: %q", got)
	}
	if !errors.Is(err, base) {
		t.Errorf("redact lost the wrapped error")
	}
}
