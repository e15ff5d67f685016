//go:build linux

package webdav

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"fsm/guard"
	"fsm/internal/fsmtest"
	"fsm/internal/mountinfo"
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

func TestGvfs(t *testing.T) {
	s := fsmtest.NewGvfsSession(t)
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

	if _, err := s.Gio("mount", root); err != nil {
		t.Fatal(err)
	}
	unmounted := false
	t.Cleanup(func() {
		if !unmounted {
			if _, err := s.Gio("mount", "-u", root); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})

	out, err := s.Gio("list", root)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, []string{"docs", "movie.mp4"}) {
		t.Errorf("gio list %s: %q", root, got)
	}
	out, err = s.Gio("list", root+"docs/")
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
	out, err = s.Gio("info", "-a", "standard::size,standard::content-type,etag::value,time::modified", root+"movie.mp4")
	if err != nil {
		t.Fatal(err)
	}
	info := string(out)
	for _, want := range []string{
		"standard::size: " + strconv.FormatInt(e.content.Size, 10),
		"standard::content-type: video/mp4",
		"etag::value: " + f.ETag(), // gvfs keeps the quotes
		"time::modified: " + strconv.FormatInt(f.ModTime().Unix(), 10),
	} {
		if !strings.Contains(info, want) {
			t.Errorf("gio info movie.mp4 lacks %q:\n%s", want, info)
		}
	}
	if _, err := s.Gio("info", root+"missing.txt"); err == nil {
		t.Errorf("gio info of a name fsm does not have succeeded")
	}
	if n := e.originGETs(); n != 0 {
		t.Errorf("gio info made %d origin GETs", n)
	}

	body, err := s.Gio("cat", root+"movie.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, whole) {
		t.Fatalf("gio cat movie.mp4: %d bytes, not the origin's %d", len(body), len(whole))
	}
	body, err = s.Gio("cat", root+"docs/read%20me.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, whole) {
		t.Fatalf("gio cat docs/read me.txt: %d bytes, not the origin's %d", len(body), len(whole))
	}

	// Writes through gio are refused and nothing reaches the tree.
	src := filepath.Join(t.TempDir(), "up.txt")
	os.WriteFile(src, []byte("hello"), 0o644)
	if _, err := s.Gio("copy", src, root+"up.txt"); err == nil {
		t.Errorf("gio copy onto the read-only tree succeeded")
	}
	if _, err := s.Gio("mkdir", root+"newdir"); err == nil {
		t.Errorf("gio mkdir on the read-only tree succeeded")
	}
	if _, err := s.Gio("remove", root+"movie.mp4"); err == nil {
		t.Errorf("gio remove on the read-only tree succeeded")
	}
	for _, n := range []string{"up.txt", "newdir"} {
		if _, err := e.fs.Stat(n); err == nil {
			t.Errorf("%s appeared in fsm's tree", n)
		}
	}
	if _, err := e.fs.Stat("movie.mp4"); err != nil {
		t.Errorf("movie.mp4 left fsm's tree: %v", err)
	}

	// The seek: through gvfsd-fuse, a read at an offset makes gvfsd-dav seek
	// its open HTTP stream, which it does with a new "Range: bytes=N-" GET.
	fuseDir := s.FuseDir()
	fsmtest.Eventually(t, "gvfsd-fuse to mount "+fuseDir, func() bool { return mountinfo.Mounted(fuseDir) })
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

	if _, err := s.Gio("mount", "-u", root); err != nil {
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
