package vfs_test

import (
	"bytes"
	"context"
	"errors"
	"fsm/internal/fsmtest"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
)

func newFS(t *testing.T) (*vfs.FS, *store.Manager, string) {
	t.Helper()
	dir := t.TempDir()
	fsys, m := fsmtest.Tree(t, store.Options{Dir: dir, RetryBase: time.Millisecond})
	return fsys, m, dir
}

// tempFiles lists the store temp files under the cache dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	got, err := filepath.Glob(filepath.Join(dir, "run-*", "*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestStageLearnsMetadata(t *testing.T) {
	lm := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name     string
		opts     testorigin.Options
		stageAs  string
		wantName string
		redirect bool
	}{
		{name: "url segment, percent-decoded", opts: testorigin.Options{Name: "/dir/movie one.mkv"}, wantName: "movie one.mkv"},
		{name: "content disposition wins", opts: testorigin.Options{Name: "/dl", ContentDisposition: `attachment; filename="report.pdf"`}, wantName: "report.pdf"},
		{name: "rfc 5987 filename", opts: testorigin.Options{Name: "/dl", ContentDisposition: `attachment; filename*=UTF-8''%C3%A9t%C3%A9.txt`}, wantName: "été.txt"},
		{name: "explicit name with folder", opts: testorigin.Options{}, stageAs: "/a/b/c.bin", wantName: "a/b/c.bin"},
		{name: "no HEAD: ranged probe", opts: testorigin.Options{NoHEAD: true}, wantName: "file.bin"},
		{name: "ignores range", opts: testorigin.Options{IgnoreRange: true, NoHEAD: true}, wantName: "file.bin"},
		{name: "redirect: name of final URL", opts: testorigin.Options{Name: "/final.iso", RedirectFrom: "/start"}, wantName: "final.iso", redirect: true},
		{name: "unknown size is downloaded first", opts: testorigin.Options{NoContentLength: true, NoHEAD: true, IgnoreRange: true}, wantName: "file.bin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Content = testorigin.Content{Seed: 7, Size: 300_001}
			tc.opts.LastModified = lm
			o := testorigin.New(t, tc.opts)
			fsys, _, _ := newFS(t)
			u := strings.ReplaceAll(o.URL(), " ", "%20")
			if tc.redirect {
				u = o.RedirectURL()
			}
			f, err := fsys.Stage(context.Background(), vfs.Request{URL: u, Name: tc.stageAs})
			if err != nil {
				t.Fatalf("stage: %v", err)
			}
			if f.Path() != tc.wantName {
				t.Errorf("name %q, want %q", f.Path(), tc.wantName)
			}
			if f.Size() != tc.opts.Content.Size {
				t.Errorf("size %d, want %d", f.Size(), tc.opts.Content.Size)
			}
			if !f.ModTime().Equal(lm) {
				t.Errorf("mtime %v, want %v", f.ModTime(), lm)
			}
			info, err := fsys.Stat(tc.wantName)
			if err != nil || info.Size != f.Size() || info.IsDir || info.ETag == "" || info.ContentType == "" {
				t.Fatalf("stat: %+v, %v", info, err)
			}
			h, err := fsys.Open("/" + tc.wantName)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			got := make([]byte, f.Size()+10)
			n, err := h.ReadAt(context.Background(), got, 0)
			if int64(n) != f.Size() || !errors.Is(err, io.EOF) {
				t.Fatalf("read n=%d err=%v", n, err)
			}
			if !bytes.Equal(got[:n], tc.opts.Content.Bytes(0, f.Size())) {
				t.Fatal("content differs from origin")
			}
		})
	}
}

func TestMtimeIsStagingTimeWithoutLastModified(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}, NoLastModified: true})
	fsys, _, _ := newFS(t)
	before := time.Now().Truncate(time.Second)
	f, err := fsys.Stage(context.Background(), vfs.Request{URL: o.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if f.ModTime().Before(before) || f.ModTime().Nanosecond() != 0 || f.ModTime().After(time.Now()) {
		t.Fatalf("mtime %v: want staging time in whole seconds", f.ModTime())
	}
}

func TestStageErrors(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}})
	slash := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}, Name: "/d/"})
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	fsys, _, _ := newFS(t)
	ctx := context.Background()
	if _, err := fsys.Stage(ctx, vfs.Request{URL: o.URL(), Name: "x/y.bin"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		source, name string
		want         error
		mention      string
	}{
		{o.URL(), "x/y.bin", fs.ErrExist, "already staged"},
		{o.URL(), "x", fs.ErrExist, "folder"},
		{o.URL(), "x/y.bin/z", fs.ErrExist, "staged file"},
		{o.URL(), "../etc/passwd", nil, ""}, // Clean makes it "etc/passwd": allowed
		{o.URL(), ".DS_Store", fs.ErrInvalid, "probe"},
		{o.URL(), "a/._foo", fs.ErrInvalid, "probe"},
		{o.URL(), ".fsm/api", fs.ErrInvalid, "reserved"},
		{o.URL(), ".fsm/x", fs.ErrInvalid, "reserved"},
		{o.URL(), "Thumbs.db/a.bin", fs.ErrInvalid, "probe"},
		{o.URL(), "._x/a", fs.ErrInvalid, "probe"},
		{o.URL(), "d/.DS_Store/a", fs.ErrInvalid, "probe"},
		{o.URL(), "x\u202etxt.exe", fs.ErrInvalid, "bidirectional"},
		{o.URL(), "a\x01b", fs.ErrInvalid, "control"},
		{o.URL(), " lead", fs.ErrInvalid, "space"},
		{o.URL(), "dir /trail", fs.ErrInvalid, "space"},
		{o.URL(), "bad\xffutf8", fs.ErrInvalid, "UTF-8"},
		{o.URL(), "sub/.fsm", nil, ""}, // reserved only at the top
		{"ftp://host/file", "f", nil, "only http"},
		{"http://", "f", nil, "no host"},
		{missing.URL + "/nothing", "", nil, "404"},
		{slash.URL(), "", fs.ErrInvalid, "give a name"},
	}
	for _, tc := range tests {
		_, err := fsys.Stage(ctx, vfs.Request{URL: tc.source, Name: tc.name})
		if tc.mention == "" {
			if err != nil {
				t.Errorf("stage %s as %q: %v", tc.source, tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.mention) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("stage %s as %q: err %v, want %v mentioning %q", tc.source, tc.name, err, tc.want, tc.mention)
		}
	}
}

func TestTreeListing(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 100}})
	fsys, _, _ := newFS(t)
	ctx := context.Background()
	for _, n := range []string{"b.txt", "a/one.bin", "a/two.bin", "a/deep/three.bin"} {
		if _, err := fsys.Stage(ctx, vfs.Request{URL: o.URL(), Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(infos []vfs.Info) (out []string) {
		for _, i := range infos {
			out = append(out, i.Name())
		}
		return out
	}
	root, err := fsys.ReadDir("/")
	if err != nil || strings.Join(names(root), ",") != "a,b.txt" || !root[0].IsDir {
		t.Fatalf("root: %v %v", names(root), err)
	}
	a, err := fsys.ReadDir("a/")
	if err != nil || strings.Join(names(a), ",") != "deep,one.bin,two.bin" {
		t.Fatalf("a: %v %v", names(a), err)
	}
	if _, err := fsys.ReadDir("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing dir: %v", err)
	}
	var pe *fs.PathError
	if _, err := fsys.Stat("a/nope"); !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := fsys.Unstage(ctx, "a/deep/three.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat("a/deep"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty folder should vanish: %v", err)
	}
	if err := fsys.Unstage(ctx, "a/deep/three.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("double unstage: %v", err)
	}
}

// No stat, listing or open may touch the origin beyond the staging probe.
func TestMetadataNeverTouchesOrigin(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 1 << 20}})
	fsys, _, _ := newFS(t)
	if _, err := fsys.Stage(context.Background(), vfs.Request{URL: o.URL()}); err != nil {
		t.Fatal(err)
	}
	before := o.Count("")
	for range 5 {
		fsys.Stat("file.bin")
		fsys.ReadDir("")
		h, err := fsys.Open("file.bin")
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	if n := o.Count(""); n != before {
		t.Fatalf("origin saw %d requests after staging, want 0", n-before)
	}
}

// Unstaging hides the name at once, open handles keep reading, and the temp
// file goes when the last handle closes.
func TestUnstageWithOpenHandle(t *testing.T) {
	c := testorigin.Content{Seed: 3, Size: 2 << 20}
	o := testorigin.New(t, testorigin.Options{Content: c})
	fsys, _, dir := newFS(t)
	ctx := context.Background()
	if _, err := fsys.Stage(ctx, vfs.Request{URL: o.URL()}); err != nil {
		t.Fatal(err)
	}
	h, err := fsys.Open("file.bin")
	if err != nil {
		t.Fatal(err)
	}
	release := o.Block() // the download cannot finish before we unstage
	done := make(chan error, 1)
	buf := make([]byte, c.Size)
	go func() {
		_, err := h.ReadAt(ctx, buf, 0)
		done <- err
	}()
	if err := fsys.Unstage(ctx, "file.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.Stat("file.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("still visible after unstage: %v", err)
	}
	if _, err := fsys.Open("file.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open after unstage: %v", err)
	}
	if n := len(tempFiles(t, dir)); n != 1 {
		t.Fatalf("%d temp files while a handle is open, want 1", n)
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("read through a handle of an unstaged file: %v", err)
	}
	if !bytes.Equal(buf, c.Bytes(0, c.Size)) {
		t.Fatal("content differs")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if got := tempFiles(t, dir); len(got) != 0 {
		t.Fatalf("temp files left after last close: %v", got)
	}
}

func TestConcurrentStageSameNameOneWins(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}})
	fsys, _, dir := newFS(t)
	const n = 8
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			_, err := fsys.Stage(context.Background(), vfs.Request{URL: o.URL(), Name: "same.bin"})
			errs <- err
		}()
	}
	close(start)
	ok := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d stagings succeeded, want exactly 1", ok)
	}
	if got := len(tempFiles(t, dir)); got != 1 {
		t.Fatalf("%d temp files, want 1", got)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// An origin that ignores Range is found out at staging, so the store reads
// it as one stream instead of opening parallel whole-file GETs.
func TestIgnoreRangeFoundAtStaging(t *testing.T) {
	c := testorigin.Content{Seed: 8, Size: 3 << 20}
	o := testorigin.New(t, testorigin.Options{Content: c, IgnoreRange: true})
	fsys, _, _ := newFS(t)
	if _, err := fsys.Stage(context.Background(), vfs.Request{URL: o.URL()}); err != nil {
		t.Fatal(err)
	}
	staging := o.Count(http.MethodGet)
	h, err := fsys.Open("file.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	buf := make([]byte, 4096)
	if _, err := h.ReadAt(context.Background(), buf, c.Size-4096); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, c.Bytes(c.Size-4096, 4096)) {
		t.Fatal("content differs")
	}
	if n := o.Count(http.MethodGet) - staging; n != 1 {
		t.Fatalf("%d GETs to read an origin that ignores Range, want 1 stream", n)
	}
}

// The staging probe and the first read share one connection: on a real
// network that saves the first read a TCP (and TLS) handshake.
func TestFirstReadReusesProbeConnection(t *testing.T) {
	c := testorigin.Content{Seed: 9, Size: 1 << 20}
	data := c.Bytes(0, c.Size)
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f.bin", time.Unix(1700000000, 0), bytes.NewReader(data))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	fsys, _, _ := newFS(t)
	if _, err := fsys.Stage(context.Background(), vfs.Request{URL: srv.URL + "/f.bin"}); err != nil {
		t.Fatal(err)
	}
	h, err := fsys.Open("f.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p := make([]byte, 100)
	if _, err := h.ReadAt(context.Background(), p, 0); err != nil || !bytes.Equal(p, data[:100]) {
		t.Fatalf("read: %v", err)
	}
	// The first read may also start a readahead connection; the request
	// for the read itself must not need a new one. So: at most 2 in all,
	// where without reuse there would be 3.
	if n := conns.Load(); n > 2 {
		t.Fatalf("%d connections for a probe and a first read, want the probe's reused", n)
	}
}

func TestHidden(t *testing.T) {
	for p, want := range map[string]bool{
		"":                 false,
		"/":                false,
		"a.bin":            false,
		"/Thumbs.db/a.bin": true,
		"Thumbs.db":        true,
		"._x/a":            true,
		"a/._x":            true,
		"/.fsm/":           true,
		".fsm/api/v1":      true,
		"sub/.fsm":         false,
		"a/.DS_Store":      true,
		".fsmx":            false,
	} {
		if got := vfs.Hidden(p); got != want {
			t.Errorf("Hidden(%q) = %v, want %v", p, got, want)
		}
	}
}
