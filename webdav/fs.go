package webdav

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"fsm/vfs"
)

// fileSystem is the view of a *vfs.FS that x/net/webdav gets. fsm sends it
// only PROPFIND (readOnly answers writes, server answers GET and HEAD), so
// it answers from metadata alone: files open without a vfs handle (no store
// reference, no origin request) and cannot be read through it. Every error
// is an *os.PathError (any other error truncates a 207 mid-stream,
// golang/go#66085).
type fileSystem struct {
	fs *vfs.FS
}

var _ webdav.FileSystem = (*fileSystem)(nil)

// errNoContent: content is served by GET, never through x/net/webdav.
var errNoContent = errors.New("content is not read through this interface")

func denied(op, name string) error {
	return &os.PathError{Op: op, Path: name, Err: os.ErrPermission}
}

// pathError returns err as an *os.PathError naming the client's name,
// keeping the cause of an existing one (vfs names its own path) so
// errors.Is still sees fs.ErrNotExist.
func pathError(op, name string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &os.PathError{Op: op, Path: name, Err: err}
}

func (f *fileSystem) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	return denied("mkdir", name)
}

func (f *fileSystem) RemoveAll(ctx context.Context, name string) error {
	return denied("remove", name)
}

func (f *fileSystem) Rename(ctx context.Context, oldName, newName string) error {
	return denied("rename", oldName)
}

// writeFlags are the OpenFile flags that would change the tree.
const writeFlags = os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_TRUNC | os.O_APPEND

func (f *fileSystem) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	if flag&writeFlags != 0 {
		return nil, denied("open", name)
	}
	info, err := f.fs.Stat(vfs.Clean(name))
	if err != nil {
		return nil, pathError("open", name, err)
	}
	return &file{fs: f.fs, name: name, info: info}, nil
}

func (f *fileSystem) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	info, err := f.fs.Stat(vfs.Clean(name))
	if err != nil {
		return nil, pathError("stat", name, err)
	}
	return fileInfo{info}, nil
}

// file is an opened resource: metadata, and a folder's listing.
type file struct {
	fs   *vfs.FS
	name string // as the caller gave it, for errors
	info vfs.Info

	mu     sync.Mutex // guards dir and dirPos (x/net/webdav calls from one goroutine; http.File does not promise it)
	dir    []vfs.Info // for Readdir; nil until the first call
	dirPos int
}

// Read and Seek fail: PROPFIND reads no content (fileInfo answers the
// content type and ETag), and fsm sends x/net/webdav nothing else that would.
func (f *file) Read(p []byte) (int, error) {
	return 0, &os.PathError{Op: "read", Path: f.name, Err: errNoContent}
}

func (f *file) Seek(offset int64, whence int) (int64, error) {
	return 0, &os.PathError{Op: "seek", Path: f.name, Err: errNoContent}
}

// Readdir lists a folder from the tree's metadata, with http.File's paging
// semantics.
func (f *file) Readdir(count int) ([]fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.info.IsDir {
		return nil, &os.PathError{Op: "readdir", Path: f.name, Err: errors.New("not a directory")}
	}
	if f.dir == nil {
		list, err := f.fs.ReadDir(f.info.Path)
		if err != nil {
			return nil, pathError("readdir", f.name, err)
		}
		f.dir = list
	}
	rest := f.dir[f.dirPos:]
	if count > 0 {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		rest = rest[:min(count, len(rest))]
	}
	f.dirPos += len(rest)
	out := make([]fs.FileInfo, len(rest))
	for i, in := range rest {
		out[i] = fileInfo{in}
	}
	return out, nil
}

func (f *file) Stat() (fs.FileInfo, error) { return fileInfo{f.info}, nil }

func (f *file) Write(p []byte) (int, error) { return 0, denied("write", f.name) }

func (f *file) Close() error { return nil }

// fileInfo answers every property from metadata: it implements
// webdav.ContentTyper and webdav.ETager so no listing reads content.
type fileInfo struct{ in vfs.Info }

var (
	_ webdav.ContentTyper = fileInfo{}
	_ webdav.ETager       = fileInfo{}
)

func (i fileInfo) Name() string {
	if i.in.Path == "" {
		return "/"
	}
	return path.Base(i.in.Path)
}
func (i fileInfo) Size() int64 {
	if i.in.IsDir {
		return 0
	}
	return i.in.Size
}
func (i fileInfo) Mode() fs.FileMode {
	if i.in.IsDir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i fileInfo) ModTime() time.Time { return i.in.ModTime }
func (i fileInfo) IsDir() bool        { return i.in.IsDir }
func (i fileInfo) Sys() any           { return i.in }

// ContentType is the type vfs decided at staging (by extension first).
func (i fileInfo) ContentType(ctx context.Context) (string, error) {
	if i.in.IsDir {
		return "", webdav.ErrNotImplemented
	}
	return i.in.ContentType, nil // never empty for a file
}

// ETag is the vfs ETag: strong and stable while the file is staged.
func (i fileInfo) ETag(ctx context.Context) (string, error) {
	if i.in.ETag == "" {
		return "", webdav.ErrNotImplemented
	}
	return i.in.ETag, nil
}
