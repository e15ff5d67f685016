//go:build fuse

package fuse

import (
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	cgofuse "github.com/winfsp/cgofuse/fuse"

	"fsm/vfs"
)

// A name can be staged, unstaged and staged again from another file while a
// handle of the first is still open. libfuse's high-level API keeps one node
// per path, and so the kernel one inode, one page cache and one size for
// every staging under that name. fsm keeps stagings apart two ways:
//
//   - When a file with handles open through the mount is unstaged, fsm
//     unlinks the name through its own mount (before Unstage returns, so
//     before the name can be staged again). libfuse then does what it does
//     for any open file that is deleted: it renames the node to a
//     ".fuse_hidden…" name (Rename below, allowed only for that), and the
//     kernel looks the name up as a new node the next time. The old handles
//     keep the old inode, its page cache and its size (fstat asks by the
//     hidden name); when the last one closes, libfuse unlinks the hidden
//     name. This is why the mount is not "-o ro": the kernel refuses an
//     unlink on a read-only mount before asking fsm; every change anyone
//     else asks for still fails with EROFS.
//   - A node whose pages may belong to another staging (the name was
//     re-staged with no handle open, so the kernel keeps its node, and
//     the new file may have the same size and mtime, which is all
//     auto_inval_data looks at) is opened without keep_cache: the kernel
//     drops the node's page cache at that open. If the unlink above did not
//     happen (it failed, or the name was staged again by another client in
//     between), a new staging opened while an older one is open on the
//     same node is read with direct_io, bypassing the shared page cache.

// hideByUnlink: fsm unlinks unstaged open files through its mount (and so
// mounts without "-o ro") on Linux only, the one system where this is
// tested; elsewhere only the keep_cache and direct_io rules apply.
const hideByUnlink = runtime.GOOS == "linux"

// hideTimeout bounds how long Unstage waits for the kernel to take the
// unlink: an unlink waits for a free libfuse worker thread.
const hideTimeout = 5 * time.Second

// hiddenPrefix starts the names libfuse renames open deleted files to.
const hiddenPrefix = ".fuse_hidden"

// unstaged runs in vfs.Unstage: it gives the kernel a new node for file's
// name if a handle of file is open through the mount.
func (m *Mounted) unstaged(file *vfs.File) {
	select {
	case <-m.fs.ready:
	default:
		return // not mounted yet: the kernel has no node
	}
	if !hideByUnlink || m.fs.opts.noHide || m.ended() || !m.fs.beginHide(file) {
		return
	}
	name := filepath.Join(m.dir, filepath.FromSlash(file.Path()))
	done := make(chan error, 1)
	go func() {
		defer m.fs.endHide(file)
		done <- syscall.Unlink(name)
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(hideTimeout):
		err = errHideTimeout
	}
	if err != nil {
		m.log.Warn("fuse: an unstaged file is still open and keeps its name's node; a file staged again under that name is read without the page cache while it stays open", "name", file.Path(), "err", err)
		return
	}
	m.log.Debug("fuse: unstaged file still open; the kernel gets a new node for its name", "name", file.Path())
}

type hideError string

func (e hideError) Error() string { return string(e) }

const errHideTimeout = hideError("the unlink through the mount did not return within 5s")

// beginHide forgets which staging's pages the kernel holds for file's name
// and, if a handle of file is open, marks the name as being hidden (so that
// the kernel's lookup during the unlink still finds file) and reports true.
func (f *fileSystem) beginHide(file *vfs.File) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cachedAt[file.Path()] == file {
		delete(f.cachedAt, file.Path())
	}
	for _, h := range f.handles {
		if h.File() == file && !f.isHiddenLocked(file) {
			f.hiding[file.Path()] = file
			return true
		}
	}
	return false
}

func (f *fileSystem) endHide(file *vfs.File) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hiding[file.Path()] == file {
		delete(f.hiding, file.Path())
	}
}

func (f *fileSystem) isHiddenLocked(file *vfs.File) bool {
	for _, hf := range f.hidden {
		if hf == file {
			return true
		}
	}
	return false
}

// nodeFile returns the unstaged file a path names for libfuse: a name being
// hidden, or a hidden name.
func (f *fileSystem) nodeFile(p string) *vfs.File {
	p = vfs.Clean(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	if file := f.hiding[p]; file != nil {
		return file
	}
	return f.hidden[p]
}

// hidingUnder reports whether a name being hidden lies under folder p,
// with that file's mtime.
func (f *fileSystem) hidingUnder(p string) (time.Time, bool) {
	prefix := vfs.Clean(p) + "/"
	if prefix == "/" {
		return time.Time{}, false // the root always exists
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, file := range f.hiding {
		if strings.HasPrefix(name, prefix) {
			return file.ModTime(), true
		}
	}
	return time.Time{}, false
}

// olderOpenLocked reports whether a handle of another staging of file's
// name is open and still on the name's node (not hidden).
func (f *fileSystem) olderOpenLocked(file *vfs.File) bool {
	for _, h := range f.handles {
		if o := h.File(); o != file && o.Path() == file.Path() && !f.isHiddenLocked(o) {
			return true
		}
	}
	return false
}

// Rename is libfuse hiding an open file that fsm unlinked through its own
// mount; any other rename is EROFS.
func (f *fileSystem) Rename(oldpath, newpath string) (errc int) {
	defer f.guard(&errc, "rename", oldpath)
	from, to := vfs.Clean(oldpath), vfs.Clean(newpath)
	f.mu.Lock()
	defer f.mu.Unlock()
	file := f.hiding[from]
	if file == nil || path.Dir(from) != path.Dir(to) || !strings.HasPrefix(path.Base(to), hiddenPrefix) {
		return -cgofuse.EROFS
	}
	f.hidden[to] = file
	return 0
}

// Unlink is libfuse removing a hidden name after its last handle closed,
// or fsm's own unlink of a name whose last handle the kernel has closed but
// not yet released (libfuse then drops the node instead of hiding it); any
// other unlink is EROFS.
func (f *fileSystem) Unlink(p string) (errc int) {
	defer f.guard(&errc, "unlink", p)
	p = vfs.Clean(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.hidden[p] != nil:
		delete(f.hidden, p)
	case f.hiding[p] != nil:
	default:
		return -cgofuse.EROFS
	}
	return 0
}
