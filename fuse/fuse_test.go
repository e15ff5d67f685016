//go:build fuse

package fuse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"fsm/internal/fsmtest"
	"fsm/internal/mountinfo"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
	"fsm/webdav"
)

const fileName = "dir/file.bin"

func TestMain(m *testing.M) {
	if dir := os.Getenv("FSM_FUSE_TEST_HELPER"); dir != "" {
		helperMount(dir)
		return
	}
	// Dead mounts that killed runs left in t.TempDir folders.
	fsmtest.SweepStaleMounts(filepath.Join(os.TempDir(), "Test"))
	os.Exit(m.Run())
}

// requireFUSE skips without a usable FUSE, except under CI where it fails.
func requireFUSE(t *testing.T) {
	t.Helper()
	err := checkLib()
	if err == nil {
		err = checkDevice()
	}
	fsmtest.Require(t, "FUSE", err)
}

// testLogger logs to t until the test ends, then drops lines.
func testLogger(t *testing.T) *slog.Logger { return fsmtest.Logger(t) }

type env struct {
	t       *testing.T
	log     *slog.Logger
	origin  *testorigin.Origin
	content testorigin.Content
	mgr     *store.Manager
	fsys    *vfs.FS
	file    *vfs.File
	dir     string // mount point
	path    string // the staged file through the mount
	m       *Mounted
}

// setup stages one file from a test origin and mounts the tree.
func setup(t *testing.T, oopts testorigin.Options, fopts Options) *env {
	t.Helper()
	requireFUSE(t)
	e := &env{t: t, log: testLogger(t), content: oopts.Content}
	e.origin = testorigin.New(t, oopts)
	e.fsys, e.mgr = fsmtest.Tree(t, store.Options{Logger: e.log})
	var err error
	e.file, err = e.fsys.Stage(context.Background(), vfs.Request{URL: e.origin.URL(), Name: fileName})
	if err != nil {
		t.Fatal(err)
	}
	e.dir = t.TempDir()
	e.path = filepath.Join(e.dir, fileName)
	if fopts.Logger == nil {
		fopts.Logger = e.log
	}
	e.m = mount(t, e.fsys, e.dir, fopts)
	return e
}

// mount mounts and registers the unmount, which runs before the TempDir
// removal registered earlier.
func mount(t *testing.T, fsys *vfs.FS, dir string, opts Options) *Mounted {
	t.Helper()
	m, err := Mount(fsys, dir, opts)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Unmount(ctx); err != nil {
			t.Errorf("Unmount: %v", err)
		}
		assertUnmounted(t, m)
	})
	return m
}

func assertUnmounted(t *testing.T, m *Mounted) {
	t.Helper()
	select {
	case <-m.Done():
	default:
		t.Errorf("Done not closed after Unmount")
	}
	mounts, err := mountinfo.Read()
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := mountinfo.At(mounts, m.Dir()); ok {
		t.Errorf("mount left at %s: %+v", m.Dir(), e)
	}
}

func (e *env) want(off, n int64) []byte { return e.content.Bytes(off, n) }

// spreadReads starts n reads of buf bytes each through the mount, at
// offsets spread evenly over the file's size; each sends its error (nil
// for the origin's bytes) on the returned channel.
func (e *env) spreadReads(n int, size int64, buf int) <-chan error {
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			f, err := os.Open(e.path)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			off := int64(i) * (size / int64(n))
			p := make([]byte, buf)
			got, err := f.ReadAt(p, off)
			if err == nil && !bytes.Equal(p[:got], e.want(off, int64(got))) {
				err = fmt.Errorf("reader %d: wrong bytes", i)
			}
			errs <- err
		}()
	}
	return errs
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".part") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestMetadataAndReads(t *testing.T) {
	const size = 5<<20 + 123
	e := setup(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: size}}, Options{})

	// Metadata answers without touching the origin's content.
	fi, err := os.Stat(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size || fi.Mode() != 0o444 || !fi.ModTime().Equal(testorigin.DefaultLastModified) {
		t.Errorf("stat: size %d mode %v mtime %v", fi.Size(), fi.Mode(), fi.ModTime())
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != uint32(os.Getuid()) || st.Gid != uint32(os.Getgid()) {
		t.Errorf("owner %d:%d, want %d:%d", st.Uid, st.Gid, os.Getuid(), os.Getgid())
	}
	if di, err := os.Stat(filepath.Join(e.dir, "dir")); err != nil || di.Mode() != fs.ModeDir|0o555 {
		t.Errorf("dir stat: %v %v", di, err)
	}
	names := func(p string) string {
		ents, err := os.ReadDir(p)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, e := range ents {
			s = append(s, e.Name())
		}
		return strings.Join(s, ",")
	}
	if got := names(e.dir); got != "dir" {
		t.Errorf("root lists %q", got)
	}
	if got := names(filepath.Join(e.dir, "dir")); got != "file.bin" {
		t.Errorf("dir lists %q", got)
	}
	if n := e.origin.Count(http.MethodGet); n > 1 { // the staging probe may be a 1-byte GET
		t.Errorf("metadata made %d GETs", n)
	}
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(e.dir, &sfs); err != nil || int64(sfs.Blocks)*sfs.Bsize < size {
		t.Errorf("statfs: %+v %v", sfs, err)
	}

	// Junk names and writes fail fast.
	for _, p := range []string{".DS_Store", "dir/._file.bin", "desktop.ini"} {
		if _, err := os.Stat(filepath.Join(e.dir, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stat %s: %v, want ENOENT", p, err)
		}
	}
	if err := os.WriteFile(filepath.Join(e.dir, "new"), []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("create: %v, want EROFS", err)
	}
	if _, err := os.OpenFile(e.path, os.O_RDWR, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("open O_RDWR: %v, want EROFS", err)
	}
	if err := os.Remove(e.path); !errors.Is(err, syscall.EROFS) {
		t.Errorf("remove: %v, want EROFS", err)
	}
	if err := os.Mkdir(filepath.Join(e.dir, "d2"), 0o755); !errors.Is(err, syscall.EROFS) {
		t.Errorf("mkdir: %v, want EROFS", err)
	}

	// Random offsets first, while the file is still arriving.
	f, err := os.Open(e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		off := rng.Int64N(size + 10)
		n := rng.Int64N(300<<10) + 1
		buf := make([]byte, n)
		got, err := f.ReadAt(buf, off)
		want := e.want(off, n)
		if got != len(want) || !bytes.Equal(buf[:got], want) {
			t.Fatalf("ReadAt(%d, %d) = %d bytes (%v), want %d matching bytes", off, n, got, err, len(want))
		}
		if (int64(len(want)) < n) != errors.Is(err, io.EOF) || (err != nil && !errors.Is(err, io.EOF)) {
			t.Fatalf("ReadAt(%d, %d): err %v with %d of %d bytes", off, n, err, got, n)
		}
	}
	// Then the whole file, sequentially.
	data, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, e.want(0, size)) {
		t.Fatalf("ReadFile: %d bytes, differ from the origin's", len(data))
	}
}

func TestConcurrentReaders(t *testing.T) {
	const size = 6 << 20
	e := setup(t, testorigin.Options{
		Content:        testorigin.Content{Seed: 2, Size: size},
		BytesPerSecond: 16 << 20, // reads wait for their bytes
	}, Options{})
	start := make(chan struct{})
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if i%2 == 0 {
				data, err := os.ReadFile(e.path)
				if err == nil && !bytes.Equal(data, e.want(0, size)) {
					err = fmt.Errorf("reader %d: ReadFile got %d bytes that differ from the origin's", i, len(data))
				}
				errs <- err
				return
			}
			f, err := os.Open(e.path)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for j := 0; j < 20; j++ {
				off, n := rng.Int64N(size), rng.Int64N(1<<20)+1
				buf := make([]byte, n)
				got, err := f.ReadAt(buf, off)
				if want := e.want(off, n); got != len(want) || !bytes.Equal(buf[:got], want) {
					errs <- fmt.Errorf("reader %d: ReadAt(%d, %d) = %d, %v: wrong bytes", i, off, n, got, err)
					return
				}
			}
			errs <- nil
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestUnstageWhileOpen(t *testing.T) {
	const size = 3<<20 + 7
	released := make(chan string, 16)
	e := setup(t, testorigin.Options{Content: testorigin.Content{Seed: 3, Size: size}},
		Options{onRelease: func(p string) { released <- p }})
	f, err := os.Open(e.path)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	if err := e.fsys.Unstage(context.Background(), fileName); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fsys.Stat(fileName); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("vfs still has the file after unstage: %v", err)
	}
	if got := tempFiles(t, e.mgr.Dir()); len(got) != 1 {
		t.Errorf("temp files while open: %v, want one", got)
	}
	// Let the kernel's cached attributes (1 s in libfuse3) expire: it then
	// asks again by path before reading on, and an error would fail the read.
	time.Sleep(1500 * time.Millisecond)
	rest, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(head, rest...), e.want(0, size)) {
		t.Fatalf("read %d bytes after unstage; they differ from the origin's", len(head)+len(rest))
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != size {
		t.Errorf("fstat after unstage: %v %v", fi, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	select { // the kernel sends RELEASE after close(2) returns
	case p := <-released:
		if p != "/"+fileName {
			t.Errorf("released %q", p)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no RELEASE after close")
	}
	if got := tempFiles(t, e.mgr.Dir()); len(got) != 0 {
		t.Errorf("temp files after the last close: %v", got)
	}
	if _, err := os.Stat(e.path); !errors.Is(err, fs.ErrNotExist) {
		// The kernel may cache the entry for up to a second; a fresh
		// lookup must fail.
		fsmtest.Eventually(t, "the unstaged file to vanish from the mount", func() bool {
			_, err := os.Stat(e.path)
			return errors.Is(err, fs.ErrNotExist)
		})
	}
}

func TestUnmountReleasesBlockedReads(t *testing.T) {
	const size = 2 << 20
	e := setup(t, testorigin.Options{Content: testorigin.Content{Seed: 4, Size: size}},
		Options{ReadTimeout: time.Hour}) // only Unmount can end the read
	release := e.origin.Block()
	defer release()

	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.Open(e.path)
		if err != nil {
			done <- result{0, err}
			return
		}
		buf := make([]byte, 64<<10)
		n, err := f.ReadAt(buf, 1<<20)
		f.Close() // the mount ends once no file is open on it
		done <- result{n, err}
	}()
	fsmtest.Eventually(t, "a read blocked on the origin", func() bool {
		return e.origin.Waiting() > 0 && e.file.Progress().Readers > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.m.Unmount(ctx); err != nil {
		t.Fatalf("Unmount with a blocked read: %v", err)
	}
	r := <-done
	if r.err == nil || !errors.Is(r.err, syscall.EIO) {
		t.Errorf("blocked read returned %d, %v; want EIO", r.n, r.err)
	}
	assertUnmounted(t, e.m)
}

func TestReadTimeout(t *testing.T) {
	e := setup(t, testorigin.Options{Content: testorigin.Content{Seed: 5, Size: 1 << 20}},
		Options{ReadTimeout: 100 * time.Millisecond})
	release := e.origin.Block()
	f, err := os.Open(e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	if _, err := f.ReadAt(buf, 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("read past ReadTimeout: %v, want EIO", err)
	}
	// The mount still answers, and reads work once the origin does. The
	// bytes are fetched first without a deadline: the 100 ms bound would
	// also apply to a read racing the origin's recovery on a busy machine.
	release()
	if _, err := os.Stat(e.path); err != nil {
		t.Fatal(err)
	}
	h, err := e.fsys.Open(fileName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CopyTo(context.Background(), io.Discard, 0, 1<<20); err != nil {
		t.Fatalf("download after the origin recovered: %v", err)
	}
	h.Close()
	data, err := os.ReadFile(e.path)
	if err != nil || !bytes.Equal(data, e.want(0, 1<<20)) {
		t.Fatalf("read after the origin recovered: %d bytes, %v", len(data), err)
	}
}

// A FUSE reader, a WebDAV GET and a vfs handle read one file at once: the
// origin sends it once.
func TestOneDownloadForAllReaders(t *testing.T) {
	const size = 4 << 20
	e := setup(t, testorigin.Options{Content: testorigin.Content{Seed: 6, Size: size}}, Options{})
	dav := httptest.NewServer(webdav.NewHandler(e.fsys, webdav.Options{Logger: e.log}))
	t.Cleanup(dav.Close)
	release := e.origin.Block()
	defer release()
	getsBefore := e.origin.Count(http.MethodGet)

	want := e.want(0, size)
	errs := make(chan error, 3)
	go func() { // FUSE
		data, err := os.ReadFile(e.path)
		if err == nil && !bytes.Equal(data, want) {
			err = fmt.Errorf("FUSE: %d bytes differ from the origin's", len(data))
		}
		errs <- err
	}()
	go func() { // WebDAV
		resp, err := http.Get(dav.URL + "/" + fileName)
		if err != nil {
			errs <- err
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil && (resp.StatusCode != 200 || !bytes.Equal(data, want)) {
			err = fmt.Errorf("WebDAV: %s, %d bytes differ from the origin's", resp.Status, len(data))
		}
		errs <- err
	}()
	go func() { // a handle, as any other frontend holds one
		h, err := e.fsys.Open(fileName)
		if err != nil {
			errs <- err
			return
		}
		defer h.Close()
		buf := make([]byte, 64<<10)
		var got []byte
		for off := int64(0); ; off += int64(len(buf)) {
			n, err := h.ReadAt(context.Background(), buf, off)
			got = append(got, buf[:n]...)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				errs <- err
				return
			}
		}
		if !bytes.Equal(got, want) {
			err = fmt.Errorf("handle: %d bytes differ from the origin's", len(got))
		}
		errs <- err
	}()
	// All three wait on the same store before the origin sends a byte.
	fsmtest.Eventually(t, "three readers waiting on one store", func() bool {
		return e.file.Progress().Readers >= 3 && e.origin.Waiting() > 0
	})
	release()
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	var body int64
	for _, r := range e.origin.Requests()[getsBefore:] {
		if r.Method == http.MethodGet {
			body += r.BytesSent
		}
	}
	t.Logf("origin: %d GETs, %d body bytes for a %d-byte file", e.origin.Count(http.MethodGet)-getsBefore, body, size)
	if body > size {
		t.Errorf("origin sent %d bytes for a %d-byte file read by three readers at once", body, size)
	}
}

func TestExternalUnmountClosesDone(t *testing.T) {
	e := setup(t, testorigin.Options{Content: testorigin.Content{Seed: 7, Size: 1000}}, Options{})
	if out, err := exec.Command(fusermount(), "-u", e.dir).CombinedOutput(); err != nil {
		t.Fatalf("%s -u: %v %s", fusermount(), err, out)
	}
	select {
	case <-e.m.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Done not closed after an outside unmount")
	}
	if err := e.m.Unmount(context.Background()); err != nil {
		t.Errorf("Unmount after the mount ended: %v", err)
	}
}

func TestMountErrors(t *testing.T) {
	requireFUSE(t)
	fsys, _ := fsmtest.Tree(t, store.Options{})
	base := t.TempDir()
	full := filepath.Join(base, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	for _, c := range []struct{ dir, want string }{
		{full, "is not empty"},
		{filepath.Join(base, "missing"), "does not exist"},
		{file, "is not a directory"},
	} {
		if err := Check(c.dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%s) = %v, want %q", c.dir, err, c.want)
		}
		m, err := Mount(fsys, c.dir, Options{})
		if m != nil || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Mount(%s) = %v, %v, want %q", c.dir, m, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
	// A second mount at a live fsm mount is refused.
	dir := t.TempDir()
	m := mount(t, fsys, dir, Options{Logger: testLogger(t)})
	if _, err := Mount(fsys, m.Dir(), Options{Logger: testLogger(t)}); err == nil || !strings.Contains(err.Error(), "already mounted") {
		t.Errorf("second Mount at a live mount: %v", err)
	}
}

// helperMount runs in a child process: it mounts an empty tree at dir, says
// so, and waits to be killed, leaving a stale mount behind.
func helperMount(dir string) {
	mgr, err := store.NewManager(store.Options{Dir: os.Getenv("FSM_FUSE_TEST_CACHE")})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if _, err := Mount(vfs.New(vfs.Options{Manager: mgr}), dir, Options{}); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {}
}

func TestStaleMountIsCleared(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FSM_FUSE_TEST_HELPER="+dir, "FSM_FUSE_TEST_CACHE="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	cmd.Process.Kill() // a crash: no unmount
	cmd.Wait()
	if _, err := os.Stat(dir); !isStale(err) {
		t.Fatalf("after the crash, stat = %v; want a stale mount", err)
	}
	if err := Check(dir); err != nil {
		t.Errorf("Check on a stale mount: %v", err)
	}
	fsys, _ := fsmtest.Tree(t, store.Options{})
	m := mount(t, fsys, dir, Options{Logger: testLogger(t)})
	if ents, err := os.ReadDir(m.Dir()); err != nil || len(ents) != 0 {
		t.Errorf("fresh mount over a cleared stale one: %v, %v", ents, err)
	}
}

// More reads waiting on the origin than libfuse's default 10 worker threads
// must not stall the mount (max_threads=64). The kernel itself lets at most
// 12 page-cache reads (max_background) be in flight per mount.
func TestManyBlockedReadsDoNotStallMount(t *testing.T) {
	const size, readers = 16 << 20, 12
	e := setup(t, testorigin.Options{Content: testorigin.Content{Seed: 8, Size: size}}, Options{})
	release := e.origin.Block()
	defer release()
	errs := e.spreadReads(readers, size, 4096)
	fsmtest.Eventually(t, "11 reads waiting on the origin", func() bool { return e.file.Progress().Readers >= 11 })
	// With every default worker thread busy, this would hang.
	statDone := make(chan error, 1)
	go func() {
		_, err := os.ReadDir(filepath.Join(e.dir, "dir"))
		statDone <- err
	}()
	select {
	case err := <-statDone:
		if err != nil {
			t.Errorf("listing while reads wait: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the mount stalled while reads wait on the origin")
	}
	release()
	for i := 0; i < readers; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
