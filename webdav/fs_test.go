package webdav

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/webdav"
)

func TestFileSystemReadOnly(t *testing.T) {
	e := newEnv(t, envOptions{})
	fsys := NewFileSystem(e.fs)
	ctx := context.Background()
	isPerm := func(what string, err error) {
		t.Helper()
		var pe *os.PathError
		if !errors.As(err, &pe) || !errors.Is(err, os.ErrPermission) {
			t.Errorf("%s: %T %v, want *os.PathError with ErrPermission", what, err, err)
		}
	}
	isPerm("Mkdir", fsys.Mkdir(ctx, "/d", 0o755))
	isPerm("RemoveAll", fsys.RemoveAll(ctx, "/movie.mp4"))
	isPerm("Rename", fsys.Rename(ctx, "/movie.mp4", "/x"))
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR, os.O_RDONLY | os.O_CREATE, os.O_RDONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND} {
		_, err := fsys.OpenFile(ctx, "/movie.mp4", flag, 0)
		isPerm("OpenFile for writing", err)
	}
	f, err := fsys.OpenFile(ctx, "/movie.mp4", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write([]byte("x"))
	isPerm("Write", err)
	f.Close()

	for _, p := range []string{"/nope", "/.fsm", "/.fsm/api"} {
		_, err := fsys.OpenFile(ctx, p, os.O_RDONLY, 0)
		var pe *os.PathError
		if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("OpenFile %s: %T %v", p, err, err)
		}
		_, err = fsys.Stat(ctx, p)
		if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat %s: %T %v", p, err, err)
		}
	}
}

func TestFileSystemRead(t *testing.T) {
	e := newEnv(t, envOptions{names: []string{"movie.mp4", "dir/a.bin", "dir/b.bin", "dir/c/d.bin"}})
	fsys := NewFileSystem(e.fs)
	ctx := context.Background()
	vf := e.file("movie.mp4")

	f, err := fsys.OpenFile(ctx, "/movie.mp4", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != vf.Size || fi.IsDir() || fi.Name() != "movie.mp4" || !fi.ModTime().Equal(vf.ModTime) {
		t.Fatalf("Stat: %v %v", fi, err)
	}
	if ct, _ := fi.(webdav.ContentTyper).ContentType(ctx); ct != "video/mp4" {
		t.Errorf("ContentType %q", ct)
	}
	if et, _ := fi.(webdav.ETager).ETag(ctx); et != vf.ETag {
		t.Errorf("ETag %q", et)
	}
	if _, err := f.Seek(vf.Size-100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if vf.Progress().Handles != 0 {
		t.Fatal("Seek opened a handle")
	}
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, e.content.Bytes(vf.Size-100, 100)) {
		t.Fatalf("tail read: %d bytes, %v", len(got), err)
	}
	if vf.Progress().Handles != 1 {
		t.Fatal("Read did not open a handle")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(f)
	if err != nil || !bytes.Equal(got, e.content.Bytes(0, vf.Size)) {
		t.Fatalf("whole read: %d bytes, %v", len(got), err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if vf.Progress().Handles != 0 {
		t.Fatal("Close did not release the handle")
	}
	if _, err := f.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}

	// Readdir with http.File paging.
	d, err := fsys.OpenFile(ctx, "/dir", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		list, err := d.Readdir(2)
		for _, fi := range list {
			names = append(names, fi.Name())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(names, ",") != "a.bin,b.bin,c" {
		t.Errorf("Readdir(2) paging gave %v", names)
	}
	if _, err := d.Read(make([]byte, 1)); err == nil {
		t.Error("Read on a folder succeeded")
	}
	d.Close()
	root, _ := fsys.OpenFile(ctx, "/", os.O_RDONLY, 0)
	all, err := root.Readdir(0)
	if err != nil || len(all) != 2 || !all[0].IsDir() || all[0].Name() != "dir" {
		t.Errorf("Readdir(0) on root: %v %v", all, err)
	}
	if _, err := (fileInfo{}).ContentType(ctx); err != nil {
		t.Errorf("ContentType of an empty info: %v", err)
	}
}

// errFS returns plain (non-PathError) errors everywhere.
type errFS struct{ webdav.FileSystem }

var errPlain = errors.New("plain error")

func (errFS) Stat(ctx context.Context, name string) (os.FileInfo, error) { return nil, errPlain }
func (errFS) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	return errPlain
}
func (errFS) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	return nil, errPlain
}

func TestHardenPathErrors(t *testing.T) {
	h := Harden(errFS{webdav.NewMemFS()})
	ctx := context.Background()
	for what, err := range map[string]error{
		"Stat":     func() error { _, err := h.Stat(ctx, "/x"); return err }(),
		"Mkdir":    h.Mkdir(ctx, "/x", 0),
		"OpenFile": func() error { _, err := h.OpenFile(ctx, "/x", 0, 0); return err }(),
	} {
		var pe *os.PathError
		if !errors.As(err, &pe) || pe != err || !errors.Is(err, errPlain) {
			t.Errorf("%s: %T %v", what, err, err)
		}
	}
	// An existing PathError is kept as is; io.EOF stays io.EOF.
	mem := Harden(webdav.NewMemFS())
	f, err := mem.OpenFile(ctx, "/f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("abc"))
	f.Seek(0, io.SeekStart)
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "abc" {
		t.Fatalf("read back %q %v", b, err)
	}
	if _, err := f.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read at end: %v, want io.EOF", err)
	}
	f.Close()
	_, err = mem.Stat(ctx, "/missing")
	if !os.IsNotExist(err) {
		t.Errorf("Stat missing: %v", err)
	}
}

// TestHardenQuota: over a writable tree a client may store quota
// properties as dead properties; they must never be reported.
func TestHardenQuota(t *testing.T) {
	mem := webdav.NewMemFS()
	ctx := context.Background()
	f, _ := mem.OpenFile(ctx, "/f", os.O_RDWR|os.O_CREATE, 0o644)
	// Plant them behind Harden's back, as another tool could.
	qa := xml.Name{Space: "DAV:", Local: "quota-available-bytes"}
	f.(webdav.DeadPropsHolder).Patch([]webdav.Proppatch{{Props: []webdav.Property{
		{XMLName: qa, InnerXML: []byte("123")},
		{XMLName: xml.Name{Space: "urn:x", Local: "color"}, InnerXML: []byte("red")},
	}}})
	f.Close()
	twin := Wrap(&webdav.Handler{FileSystem: Harden(mem), LockSystem: webdav.NewMemLS()}, WrapOptions{})
	srv := httptest.NewServer(twin)
	defer srv.Close()
	do := func(method, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+"/f", strings.NewReader(body))
		req.Header.Set("Depth", "0")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := do("PROPFIND", "")
	if code != 207 || strings.Contains(body, "quota") || !strings.Contains(body, "red") {
		t.Errorf("allprop: %d %s", code, body)
	}
	code, body = do("PROPFIND", `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/></D:prop></D:propfind>`)
	ms := parseMultistatus(t, []byte(body))
	if _, ok := ms["/f"]["404 quota-available-bytes"]; code != 207 || !ok {
		t.Errorf("explicit quota: %d %s", code, body)
	}
	code, body = do("PROPPATCH", `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:quota-used-bytes>5</D:quota-used-bytes><Z:y xmlns:Z="urn:x">1</Z:y></D:prop></D:set></D:propertyupdate>`)
	ms = parseMultistatus(t, []byte(body))
	if _, ok := ms["/f"]["403 quota-used-bytes"]; code != 207 || !ok {
		t.Errorf("PROPPATCH quota: %d %s", code, body)
	}
	if _, ok := ms["/f"]["424 y"]; !ok {
		t.Errorf("PROPPATCH other prop with quota not failed-dependency: %s", body)
	}
}

func TestHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"download https://h.example/a/b.iso?X-Amz-Signature=abc&x=1: 503": "download https://h.example/a/b.iso?…: 503",
		`get "http://h/x?sig=1" failed`:                                   `get "http://h/x?…" failed`,
		"no url here":                                                     "no url here",
	} {
		if got := redactURLs(in); got != want {
			t.Errorf("redactURLs(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range []struct {
		prefix, p, rel string
		ok             bool
	}{
		{"", "/a", "/a", true}, {"/dav", "/dav", "/", true}, {"/dav", "/dav/a", "/a", true},
		{"/dav", "/davx", "", false}, {"/dav", "/a", "", false},
	} {
		rel, ok := stripPrefix(c.prefix, c.p)
		if rel != c.rel || ok != c.ok {
			t.Errorf("stripPrefix(%q, %q) = %q %v", c.prefix, c.p, rel, ok)
		}
	}
	for ct, want := range map[string]bool{"text/html; charset=utf-8": true, "image/svg+xml": true, "video/mp4": false, "application/pdf": false} {
		if scriptable(ct) != want {
			t.Errorf("scriptable(%q) != %v", ct, want)
		}
	}
}

func TestStagedHTMLIsSandboxed(t *testing.T) {
	e := newEnv(t, envOptions{names: []string{"page.html", "movie.mp4"}})
	resp, _ := e.do("HEAD", "/page.html", nil, "")
	if got := resp.Header.Get("Content-Security-Policy"); got != "sandbox" {
		t.Errorf("page.html CSP = %q", got)
	}
	resp, _ = e.do("HEAD", "/movie.mp4", nil, "")
	if got := resp.Header.Get("Content-Security-Policy"); got != "" {
		t.Errorf("movie.mp4 CSP = %q", got)
	}
}
