package webdav

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"fsm/vfs"
)

// FileSystem is a read-only golang.org/x/net/webdav.FileSystem over a
// *vfs.FS. Opening is lazy: no vfs handle (and so no store reference) exists
// until the first Read, so PROPFIND, which opens every resource several
// times, never touches a store or the origin. Every error is an
// *os.PathError (golang/go#66085).
type FileSystem struct {
	fs *vfs.FS
}

var _ webdav.FileSystem = (*FileSystem)(nil)

// NewFileSystem returns the read-only WebDAV view of fsys.
func NewFileSystem(fsys *vfs.FS) *FileSystem { return &FileSystem{fs: fsys} }

func denied(op, name string) error {
	return &os.PathError{Op: op, Path: name, Err: os.ErrPermission}
}

// Mkdir is refused: the tree is read-only.
func (f *FileSystem) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	return denied("mkdir", name)
}

// RemoveAll is refused: the tree is read-only.
func (f *FileSystem) RemoveAll(ctx context.Context, name string) error {
	return denied("remove", name)
}

// Rename is refused: the tree is read-only.
func (f *FileSystem) Rename(ctx context.Context, oldName, newName string) error {
	return denied("rename", oldName)
}

// writeFlags are the OpenFile flags that would change the tree.
const writeFlags = os.O_WRONLY | os.O_RDWR | os.O_CREATE | os.O_TRUNC | os.O_APPEND

// hidden reports names that exist for nobody: the control prefix.
func hidden(clean string) bool {
	first, _, _ := strings.Cut(clean, "/")
	return first == vfs.ControlPrefix
}

// stat is vfs.Stat with hidden names answered "not found" and the error in
// the path form WebDAV clients see.
func (f *FileSystem) stat(op, name string) (vfs.Info, error) {
	clean := vfs.Clean(name)
	if hidden(clean) {
		return vfs.Info{}, &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
	}
	info, err := f.fs.Stat(clean)
	if err != nil {
		return vfs.Info{}, pathError(op, name, err)
	}
	return info, nil
}

// OpenFile returns a lazy file: it holds only metadata until the first Read.
// The context (the request's) bounds every read of content, so a client
// that goes away frees its goroutine; the download itself carries on.
func (f *FileSystem) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	if flag&writeFlags != 0 {
		return nil, denied("open", name)
	}
	info, err := f.stat("open", name)
	if err != nil {
		return nil, err
	}
	return &file{fs: f.fs, ctx: ctx, name: name, info: info}, nil
}

// Stat describes name from metadata only.
func (f *FileSystem) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	info, err := f.stat("stat", name)
	if err != nil {
		return nil, err
	}
	return fileInfo{info}, nil
}

// file is an opened resource. The vfs handle is opened by the first Read and
// released by Close.
type file struct {
	fs   *vfs.FS
	ctx  context.Context
	name string // as the caller gave it, for errors
	info vfs.Info

	mu     sync.Mutex
	h      *vfs.Handle
	pos    int64
	dir    []vfs.Info // for Readdir; nil until the first call
	dirPos int
	closed bool
}

func (f *file) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: os.ErrClosed}
	}
	if f.info.IsDir {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: errors.New("is a directory")}
	}
	if f.pos >= f.info.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.h == nil {
		h, err := f.fs.Open(f.info.Path)
		if err != nil {
			return 0, pathError("open", f.name, err)
		}
		f.h = h
	}
	n, err := f.h.ReadAt(f.ctx, p, f.pos)
	f.pos += int64(n)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	default:
		return n, pathError("read", f.name, err)
	}
}

// Seek moves the offset; it answers from metadata and opens nothing.
func (f *file) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, &os.PathError{Op: "seek", Path: f.name, Err: os.ErrClosed}
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = f.pos + offset
	case io.SeekEnd:
		abs = f.info.Size + offset
	default:
		return 0, &os.PathError{Op: "seek", Path: f.name, Err: fs.ErrInvalid}
	}
	if abs < 0 {
		return 0, &os.PathError{Op: "seek", Path: f.name, Err: errors.New("negative position")}
	}
	f.pos = abs
	return abs, nil
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
		f.dir = make([]vfs.Info, 0, len(list))
		for _, in := range list {
			if !hidden(in.Path) {
				f.dir = append(f.dir, in)
			}
		}
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

// Close releases the vfs handle if a read opened one.
func (f *file) Close() error {
	f.mu.Lock()
	h := f.h
	f.h, f.closed = nil, true
	f.mu.Unlock()
	if h != nil {
		if err := h.Close(); err != nil {
			return pathError("close", f.name, err)
		}
	}
	return nil
}

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
	if i.in.ContentType == "" {
		return "application/octet-stream", nil
	}
	return i.in.ContentType, nil
}

// ETag is the vfs ETag: strong and stable while the file is staged.
func (i fileInfo) ETag(ctx context.Context) (string, error) {
	if i.in.ETag == "" {
		return "", webdav.ErrNotImplemented
	}
	return i.in.ETag, nil
}

// pathError returns err as an *os.PathError, keeping an existing one (with
// the client's name) and the wrapped cause for errors.Is.
func pathError(op, name string, err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return &os.PathError{Op: op, Path: name, Err: pe.Err}
	}
	return &os.PathError{Op: op, Path: name, Err: err}
}
