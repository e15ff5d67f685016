package webdav

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/webdav"
)

func TestFileSystemReadOnly(t *testing.T) {
	e := newEnv(t, envOptions{})
	fsys := &fileSystem{fs: e.fs}
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
	fsys := &fileSystem{fs: e.fs}
	ctx := context.Background()
	vf := e.file("movie.mp4")

	f, err := fsys.OpenFile(ctx, "/movie.mp4", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != vf.Size() || fi.IsDir() || fi.Name() != "movie.mp4" || !fi.ModTime().Equal(vf.ModTime()) {
		t.Fatalf("Stat: %v %v", fi, err)
	}
	if ct, _ := fi.(webdav.ContentTyper).ContentType(ctx); ct != "video/mp4" {
		t.Errorf("ContentType %q", ct)
	}
	if et, _ := fi.(webdav.ETager).ETag(ctx); et != vf.ETag() {
		t.Errorf("ETag %q", et)
	}
	// Content is GET's: reading or seeking through x/net/webdav fails
	// with a PathError and opens nothing.
	var pe *os.PathError
	if n, err := f.Read(make([]byte, 10)); n != 0 || !errors.As(err, &pe) {
		t.Fatalf("Read: %d %T %v, want a PathError", n, err, err)
	}
	if _, err := f.Seek(0, io.SeekEnd); !errors.As(err, &pe) {
		t.Fatalf("Seek: %T %v, want a PathError", err, err)
	}
	if vf.Progress().Handles != 0 || e.originGETs() != 0 {
		t.Fatal("the PROPFIND view opened a handle or reached the origin")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
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

func TestStagedHTMLIsSandboxed(t *testing.T) {
	e := newEnv(t, envOptions{names: []string{"page.html", "movie.mp4"}})
	resp, _ := e.do("HEAD", "/page.html", nil, "")
	if got := resp.Header.Get("Content-Security-Policy"); got != "sandbox" {
		t.Errorf("page.html CSP = %q", got)
	}
	// Not only the types a browser is known to script: every staged file.
	for _, p := range []string{"/movie.mp4", "/page.html"} {
		for _, method := range []string{"HEAD", "GET"} {
			resp, _ = e.do(method, p, nil, "")
			for k, want := range map[string]string{
				"Content-Security-Policy":      "sandbox",
				"X-Content-Type-Options":       "nosniff",
				"Cross-Origin-Resource-Policy": "same-origin",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s %s: %s = %q, want %q", method, p, k, got, want)
				}
			}
		}
	}
}
