//go:build fuse

package fuse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	cgofuse "github.com/winfsp/cgofuse/fuse"

	"fsm/vfs"
)

// noFH is what cgofuse passes as fh when the kernel gave no file handle.
const noFH = ^uint64(0)

// fileSystem answers cgofuse's callbacks from a vfs.FS. Callbacks run
// concurrently on libfuse's worker threads.
type fileSystem struct {
	cgofuse.FileSystemBase

	vfs      *vfs.FS
	ctx      context.Context // cancelled by Unmount: every read waits under it
	opts     Options
	log      *slog.Logger
	tracing  bool // debug logging is on: one line per open, read and release (trace.go)
	uid, gid uint32

	ready     chan struct{} // closed by Init: the mount is live
	readyOnce sync.Once
	onInit    func() // called by Init before ready closes

	timeouts *timeouts

	mu      sync.Mutex // guards the fields below
	handles map[uint64]*vfs.Handle
	direct  map[uint64]bool // handles opened with direct_io
	nextFH  uint64
	// cachedAt is, per name, the staging last opened through the page
	// cache there: only its pages can be in the name's page cache. No entry:
	// unknown, and the next open drops that cache (see restage.go).
	cachedAt map[string]*vfs.File
	// hiding holds the names fsm is unlinking through its mount, with the
	// unstaged file still open under each; hidden maps the ".fuse_hidden…"
	// names libfuse gave such files to them, until libfuse unlinks those.
	hiding map[string]*vfs.File
	hidden map[string]*vfs.File
	// released is closed and replaced whenever a handle is released, so
	// that Drain can wait for the count to fall.
	released chan struct{}
}

func newFileSystem(ctx context.Context, fsys *vfs.FS, opts Options, onInit func()) *fileSystem {
	return &fileSystem{
		vfs:      fsys,
		ctx:      ctx,
		opts:     opts,
		log:      opts.Logger,
		tracing:  opts.Logger.Enabled(ctx, slog.LevelDebug),
		uid:      uint32(os.Getuid()),
		gid:      uint32(os.Getgid()),
		ready:    make(chan struct{}),
		onInit:   onInit,
		timeouts: newTimeouts(),
		handles:  make(map[uint64]*vfs.Handle),
		direct:   make(map[uint64]bool),
		cachedAt: make(map[string]*vfs.File),
		hiding:   make(map[string]*vfs.File),
		hidden:   make(map[string]*vfs.File),
		released: make(chan struct{}),
	}
}

// guard turns a panic in a callback into EIO with a log line; cgofuse would
// turn it into EIO silently.
func (f *fileSystem) guard(errc *int, op, path string) {
	if r := recover(); r != nil {
		f.log.Error("fuse: panic in callback; answering EIO", "op", op, "path", path, "panic", r, "stack", string(debug.Stack()))
		*errc = -cgofuse.EIO
	}
}

// errno maps a vfs error to a negative errno, logging the unexpected ones.
func (f *fileSystem) errno(op, path string, err error) int {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return -cgofuse.ENOENT
	case errors.Is(err, fs.ErrPermission):
		return -cgofuse.EACCES
	}
	f.log.Warn("fuse: answering EIO", "op", op, "path", path, "err", err)
	return -cgofuse.EIO
}

func (f *fileSystem) Init() {
	f.readyOnce.Do(func() {
		if f.onInit != nil {
			f.onInit()
		}
		close(f.ready)
	})
}

func (f *fileSystem) fillStat(st *cgofuse.Stat_t, isDir bool, size int64, mtime time.Time) {
	*st = cgofuse.Stat_t{}
	if isDir {
		st.Mode = cgofuse.S_IFDIR | 0o555
		st.Nlink = 2
	} else {
		st.Mode = cgofuse.S_IFREG | 0o444
		st.Nlink = 1
		st.Size = size
		st.Blocks = (size + 511) / 512
	}
	// fuse3 through cgofuse ignores the uid= and gid= options: set them here.
	st.Uid, st.Gid = f.uid, f.gid
	ts := cgofuse.NewTimespec(mtime)
	st.Atim, st.Mtim, st.Ctim, st.Birthtim = ts, ts, ts, ts
	st.Blksize = 1 << 16
}

func (f *fileSystem) statInfo(st *cgofuse.Stat_t, info vfs.Info) {
	f.fillStat(st, info.IsDir, info.Size, info.ModTime)
}

func (f *fileSystem) handle(fh uint64) *vfs.Handle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handles[fh]
}

// cached reports whether fh reads through the page cache (not direct_io):
// only then does the kernel read ahead and retry a failed page.
func (f *fileSystem) cached(fh uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.direct[fh]
}

func (f *fileSystem) Getattr(path string, st *cgofuse.Stat_t, fh uint64) (errc int) {
	defer f.guard(&errc, "getattr", path)
	if fh != noFH {
		// An open file keeps its metadata even after an unstage.
		if h := f.handle(fh); h != nil {
			file := h.File()
			f.fillStat(st, false, file.Size(), file.ModTime())
			return 0
		}
	}
	// The node of an unstaged file still open, as libfuse names it.
	if file := f.nodeFile(path); file != nil {
		f.fillStat(st, false, file.Size(), file.ModTime())
		return 0
	}
	if mtime, ok := f.hidingUnder(path); ok {
		// A folder that went with the file being hidden: the unlink has
		// to find it.
		f.fillStat(st, true, 0, mtime)
		return 0
	}
	if vfs.Hidden(path) {
		return -cgofuse.ENOENT
	}
	info, err := f.vfs.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		// The kernel asks by path (fstat included) whenever its cached
		// attributes expire, and fails reads on an error: a file unstaged
		// while open keeps its metadata until the last handle closes.
		if file := f.openFile(path); file != nil {
			f.fillStat(st, false, file.Size(), file.ModTime())
			return 0
		}
	}
	if err != nil {
		return f.errno("getattr", path, err)
	}
	f.statInfo(st, info)
	return 0
}

// openFile returns the file of an open handle at path that is still on
// path's node (not hidden), if any.
func (f *fileSystem) openFile(path string) *vfs.File {
	p := vfs.Clean(path)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.handles {
		if file := h.File(); file.Path() == p && !f.isHiddenLocked(file) {
			return file
		}
	}
	return nil
}

func (f *fileSystem) Opendir(path string) (errc int, fh uint64) {
	defer f.guard(&errc, "opendir", path)
	if vfs.Hidden(path) {
		return -cgofuse.ENOENT, noFH
	}
	info, err := f.vfs.Stat(path)
	if err != nil {
		return f.errno("opendir", path, err), noFH
	}
	if !info.IsDir {
		return -cgofuse.ENOTDIR, noFH
	}
	return 0, noFH
}

func (f *fileSystem) Readdir(path string, fill func(name string, stat *cgofuse.Stat_t, ofst int64) bool, ofst int64, fh uint64) (errc int) {
	defer f.guard(&errc, "readdir", path)
	self, err := f.vfs.Stat(path)
	if err != nil {
		return f.errno("readdir", path, err)
	}
	if !self.IsDir {
		return -cgofuse.ENOTDIR
	}
	infos, err := f.vfs.ReadDir(path)
	if err != nil {
		return f.errno("readdir", path, err)
	}
	var st cgofuse.Stat_t
	f.statInfo(&st, self)
	if !fill(".", &st, 0) || !fill("..", nil, 0) {
		return 0
	}
	for _, info := range infos {
		f.statInfo(&st, info)
		if !fill(info.Name(), &st, 0) {
			break
		}
	}
	return 0
}

// OpenEx opens with FOPEN_KEEP_CACHE when the name's page cache can hold
// only this staging's pages. Without it the kernel drops the file's page
// cache on every open, which waits for every page still being read: one
// read waiting on a slow origin range would block every other open of that
// file. Staged content never changes, but a name staged again may share
// its node with the older staging (same size and mtime, which is all
// auto_inval_data compares): the first open of a staging there drops the
// cache, and a staging opened while an older one is open on the same node
// reads with direct_io (see restage.go).
//
// A file that is not completely downloaded yet is opened with direct_io:
// its reads then go to fsm synchronously instead of as the kernel's
// readahead, which runs as background requests, of which a mount may have
// only 12 in flight (max_background; libfuse's high-level API, and so
// cgofuse, cannot raise it). Readahead waiting on one stalled origin would
// otherwise fill them and stall every page-cache read on the mount. fsm's
// store reads ahead from the origin itself, so the kernel's readahead adds
// little while a file is arriving; once complete, a file opens cached.
// Options.CacheIncomplete turns this off.
func (f *fileSystem) OpenEx(path string, fi *cgofuse.FileInfo_t) (errc int) {
	errc, fi.Fh = f.Open(path, fi.Flags)
	if errc != 0 {
		return errc
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.handles[fi.Fh]; h != nil {
		file := h.File()
		p := file.Progress()
		older := f.olderOpenLocked(file)
		fi.DirectIo = older || (p.Present < p.Size && !f.opts.CacheIncomplete)
		fi.KeepCache = !older && f.cachedAt[file.Path()] == file
		if older {
			// The older handle keeps filling the cache with its bytes.
			delete(f.cachedAt, file.Path())
		} else {
			f.cachedAt[file.Path()] = file
		}
		f.direct[fi.Fh] = fi.DirectIo
	}
	return 0
}

// CreateEx exists because cgofuse honours OpenEx's flags only when both are
// implemented.
func (f *fileSystem) CreateEx(path string, mode uint32, fi *cgofuse.FileInfo_t) int {
	return -cgofuse.EROFS
}

func (f *fileSystem) Open(path string, flags int) (errc int, fh uint64) {
	if f.tracing { // deferred first, so it runs after guard and logs its EIO
		defer f.trace("open", path, time.Now(), &errc)
	}
	defer f.guard(&errc, "open", path)
	if flags&cgofuse.O_ACCMODE != cgofuse.O_RDONLY || flags&cgofuse.O_TRUNC != 0 {
		return -cgofuse.EROFS, noFH
	}
	if vfs.Hidden(path) {
		return -cgofuse.ENOENT, noFH
	}
	h, err := f.vfs.Open(path)
	if err != nil {
		if info, serr := f.vfs.Stat(path); serr == nil && info.IsDir {
			return -cgofuse.EISDIR, noFH
		}
		return f.errno("open", path, err), noFH
	}
	f.mu.Lock()
	f.nextFH++
	fh = f.nextFH
	f.handles[fh] = h
	f.mu.Unlock()
	return 0, fh
}

// Read fills buff completely, or up to the real end of the file: a short
// read would make the kernel's page cache treat the file as ending there.
// Each read waits at most Options.ReadTimeout, and not past Unmount; the
// kernel's retry of a range that just timed out fails at once (see
// timeouts), so an application's read waits at most ReadTimeout in all.
func (f *fileSystem) Read(path string, buff []byte, ofst int64, fh uint64) (n int) {
	if f.tracing {
		defer f.traceRead(path, ofst, len(buff), time.Now(), &n)
	}
	defer f.guard(&n, "read", path)
	h := f.handle(fh)
	if h == nil {
		f.log.Warn("fuse: read on an unknown file handle", "path", path, "fh", fh)
		return -cgofuse.EBADF
	}
	file := h.File()
	wait := f.opts.ReadTimeout
	cached := f.cached(fh)
	retry := cached && f.timeouts.take(file, ofst, len(buff))
	if retry {
		wait = 0 // serve what is here, wait for nothing
	}
	ctx, cancel := context.WithTimeout(f.ctx, wait)
	defer cancel()
	for n < len(buff) {
		k, err := h.ReadAt(ctx, buff[n:], ofst+int64(n))
		n += k
		if errors.Is(err, io.EOF) {
			return n
		}
		if err == nil && k == 0 {
			err = errors.New("no progress")
		}
		if err != nil {
			why := failStore
			switch {
			case f.ctx.Err() != nil:
				why = failUnmount
			case retry:
				why = failRetry
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				why = failTimeout
				if cached {
					f.timeouts.add(file, ofst, ofst+int64(len(buff)))
				}
			}
			f.readFailed(path, ofst, len(buff), why, err)
			return -cgofuse.EIO
		}
	}
	return n
}

func (f *fileSystem) readFailed(path string, off int64, size int, why readFailure, err error) {
	reason := map[readFailure]string{
		failStore:   "store error",
		failUnmount: "unmounting",
		failTimeout: fmt.Sprintf("bytes did not arrive within %s", f.opts.ReadTimeout),
		failRetry:   "retry of a range that just timed out",
	}[why]
	level := slog.LevelWarn
	if why == failRetry {
		level = slog.LevelDebug
	}
	f.log.Log(context.Background(), level, "fuse: read failed; answering EIO", "path", path, "offset", off, "size", size, "reason", reason, "err", err)
	if f.opts.onReadFail != nil {
		f.opts.onReadFail(why)
	}
}

func (f *fileSystem) Release(path string, fh uint64) (errc int) {
	if f.tracing {
		defer f.trace("release", path, time.Now(), &errc)
	}
	defer f.guard(&errc, "release", path)
	f.mu.Lock()
	h := f.handles[fh]
	delete(f.handles, fh)
	delete(f.direct, fh)
	if h != nil {
		close(f.released)
		f.released = make(chan struct{})
	}
	f.mu.Unlock()
	if h == nil {
		return 0
	}
	// The staged name, not libfuse's path: that is a ".fuse_hidden…" name
	// for a file unstaged while open (restage.go).
	name := "/" + h.File().Path()
	if err := h.Close(); err != nil {
		f.log.Warn("fuse: release", "path", name, "err", err)
	}
	if f.opts.onRelease != nil {
		f.opts.onRelease(name)
	}
	return 0
}

// openHandles counts files open through the mount.
func (f *fileSystem) openHandles() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.handles)
}

// openState returns the number of open files and a channel closed at the
// next release.
func (f *fileSystem) openState() (int, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.handles), f.released
}

// closeAll releases handles the kernel never released (after an abort).
func (f *fileSystem) closeAll() {
	f.mu.Lock()
	hs := f.handles
	f.handles = make(map[uint64]*vfs.Handle)
	f.direct = make(map[uint64]bool)
	f.mu.Unlock()
	for _, h := range hs {
		h.Close()
	}
}

func (f *fileSystem) Statfs(path string, st *cgofuse.Statfs_t) (errc int) {
	defer f.guard(&errc, "statfs", path)
	var total int64
	files := f.vfs.Files()
	for _, file := range files {
		total += file.Size()
	}
	const bsize = 4096
	*st = cgofuse.Statfs_t{
		Bsize:   bsize,
		Frsize:  bsize,
		Blocks:  uint64((total + bsize - 1) / bsize),
		Files:   uint64(len(files)),
		Namemax: 255,
	}
	return 0
}

func (f *fileSystem) Access(path string, mask uint32) (errc int) {
	defer f.guard(&errc, "access", path)
	const wOK, xOK = 2, 1
	if vfs.Hidden(path) {
		return -cgofuse.ENOENT
	}
	info, err := f.vfs.Stat(path)
	if err != nil {
		return f.errno("access", path, err)
	}
	switch {
	case mask&wOK != 0:
		return -cgofuse.EROFS
	case mask&xOK != 0 && !info.IsDir:
		return -cgofuse.EACCES
	}
	return 0
}

func (f *fileSystem) Readlink(path string) (int, string) { return -cgofuse.EINVAL, "" }

// The tree is read-only: every change is EROFS.

func (f *fileSystem) Mknod(string, uint32, uint64) int         { return -cgofuse.EROFS }
func (f *fileSystem) Mkdir(string, uint32) int                 { return -cgofuse.EROFS }
func (f *fileSystem) Rmdir(string) int                         { return -cgofuse.EROFS }
func (f *fileSystem) Link(string, string) int                  { return -cgofuse.EROFS }
func (f *fileSystem) Symlink(string, string) int               { return -cgofuse.EROFS }
func (f *fileSystem) Chmod(string, uint32) int                 { return -cgofuse.EROFS }
func (f *fileSystem) Chown(string, uint32, uint32) int         { return -cgofuse.EROFS }
func (f *fileSystem) Utimens(string, []cgofuse.Timespec) int   { return -cgofuse.EROFS }
func (f *fileSystem) Truncate(string, int64, uint64) int       { return -cgofuse.EROFS }
func (f *fileSystem) Write(string, []byte, int64, uint64) int  { return -cgofuse.EROFS }
func (f *fileSystem) Setxattr(string, string, []byte, int) int { return -cgofuse.EROFS }
func (f *fileSystem) Removexattr(string, string) int           { return -cgofuse.EROFS }
func (f *fileSystem) Create(string, int, uint32) (int, uint64) { return -cgofuse.EROFS, noFH }
