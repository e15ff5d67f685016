// Package vfs is the tree of staged remote files that the WebDAV and FUSE
// frontends share: names and folders, stable metadata, and open handles that
// read through each file's one store.
//
// Nothing here touches the origin except staging (a HEAD or one-byte probe,
// and the whole download of a file whose size the origin will not tell)
// and reads of content through a Handle.
package vfs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"fsm/internal/redact"
	"fsm/store"
)

// Options configure an FS.
type Options struct {
	Manager *store.Manager // required
	Logger  *slog.Logger
	// CloseTimeout bounds how long releasing the last handle of an unstaged
	// file waits for reads still in flight (10 s).
	CloseTimeout time.Duration
	// Changed, if set, is called after a file entered or left the tree
	// (to save the staged set; see persist.go). It runs without the FS's
	// locks and must not block.
	Changed func()
	// MaxFiles bounds the files staged and being staged; staging beyond
	// it fails with ErrTooMany (0: DefaultMaxFiles).
	MaxFiles int
	// List reads folders' index pages (StageFolder); internal/folderlist
	// has the one fsm uses. Nil: StageFolder refuses.
	List Lister
	// AfterRead is the policy of files staged without one of their own
	// (keep when empty); see AfterRead.
	AfterRead AfterRead
	// AfterReadDelay is how long a file whose every byte was read waits,
	// closed, for a new open before its after-read action
	// (DefaultAfterReadDelay when zero).
	AfterReadDelay time.Duration
}

// FS is the tree of staged files. It is safe for concurrent use.
type FS struct {
	opts    Options
	log     *slog.Logger
	started time.Time

	// mu guards the fields below; methods that need it held end in Locked.
	// Store methods may be called with it held (they take only their own
	// locks, never this one).
	mu       sync.RWMutex
	files    map[string]*File     // by clean path
	pending  map[string]bool      // names reserved by stagings in progress
	staging  map[*staging]bool    // sources being probed or that failed: listed, not in the tree
	dirTimes map[string]time.Time // last change of each folder ("" is the root)
	folders  map[string]*folder   // staged folder sources, by name
	queued   int                  // folders' files queued or being probed: they count against MaxFiles
	closed   bool

	queue queue // the one staging queue; has its own lock
	// life ends at Close: the background stagings of folders' files run
	// under it, since no request waits for them.
	life    context.Context
	endLife context.CancelFunc

	unstageHooks unstageHooks // has its own lock
	actions      actionLog    // after-read actions taken; has its own lock
}

// File is one staged remote file. Its metadata never changes while staged,
// and frontends only read it: the fields are set once by staging.
type File struct {
	path        string // clean path, e.g. "movies/big.iso"
	url         string // as staged, query string removed: safe to show
	size        int64
	modTime     time.Time // whole seconds
	etag        string    // ours, strong and quoted: stable while staged
	contentType string
	verified    bool
	headerNames []string  // names of the request headers given at staging, sorted
	afterRead   AfterRead // "" when staged without one: the tree's default applies
	store       *store.Store
	folder      *folder // the staged folder it came from, else nil

	// gone: a refresh found it no longer in its folder's index while a
	// handle was open; the last Close unstages it. Guarded by FS.mu.
	gone bool

	track readTrack // after-read accounting; has its own lock
}

// Path is the file's clean path, e.g. "movies/big.iso".
func (f *File) Path() string { return f.path }

// URL is the source as staged, query string removed: safe to show.
func (f *File) URL() string { u, _ := shownURL(f.url); return u }

// shownURL splits a URL redacted with its query marked ("…?…") into what
// listings show (no query) and whether it had one.
func shownURL(redacted string) (string, bool) { return strings.CutSuffix(redacted, "?…") }

// Size is the file's size in bytes.
func (f *File) Size() int64 { return f.size }

// ModTime is the origin's Last-Modified (else the staging time), in whole
// seconds.
func (f *File) ModTime() time.Time { return f.modTime }

// ETag is ours, strong and quoted: stable while staged.
func (f *File) ETag() string { return f.etag }

// ContentType is decided by extension, else the origin's.
func (f *File) ContentType() string { return f.contentType }

// Verified is false when the origin sends no validator (neither ETag nor
// Last-Modified): a change there is caught only where bytes are read twice.
func (f *File) Verified() bool { return f.verified }

// HeaderNames are the names of the request headers given at staging,
// sorted. The caller must not change the slice.
func (f *File) HeaderNames() []string { return f.headerNames }

// Progress of the file's download.
func (f *File) Progress() store.Progress { return f.store.Progress() }

// Info describes a file or folder for Stat and ReadDir.
type Info struct {
	Path        string // clean path; "" is the root
	IsDir       bool
	Size        int64
	ModTime     time.Time
	ETag        string
	ContentType string // a file's is never empty (application/octet-stream at worst)
}

// Name is the last path element ("/" for the root).
func (i Info) Name() string {
	if i.Path == "" {
		return "/"
	}
	return path.Base(i.Path)
}

// New returns an empty tree.
func New(opts Options) *FS {
	if opts.Manager == nil {
		panic("vfs.New: no store manager")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = 10 * time.Second
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.AfterRead == "" {
		opts.AfterRead = AfterReadKeep
	}
	if opts.AfterReadDelay <= 0 {
		opts.AfterReadDelay = DefaultAfterReadDelay
	}
	now := time.Now().Truncate(time.Second)
	life, endLife := context.WithCancel(context.Background())
	return &FS{
		life:     life,
		endLife:  endLife,
		folders:  make(map[string]*folder),
		opts:     opts,
		log:      opts.Logger,
		started:  now,
		files:    make(map[string]*File),
		pending:  make(map[string]bool),
		staging:  make(map[*staging]bool),
		dirTimes: map[string]time.Time{"": now},
	}
}

// stage stages req, listed as st, under name, claimed by the caller at
// claimed, or under the name its probe gives when name is "".
func (f *FS) stage(ctx context.Context, st *staging, req Request, name string, claimed time.Time) (file *File, err error) {
	source := req.URL
	reserved := name
	defer func() {
		if reserved != "" {
			f.mu.Lock()
			delete(f.pending, reserved)
			f.mu.Unlock()
		}
	}()
	r, err := f.opts.Manager.Probe(ctx, source, req.Header)
	if err != nil {
		return nil, err
	}
	if name == "" {
		if r.Name == "" {
			return nil, fmt.Errorf("%w; give a name", ErrNoName)
		}
		name = Clean(r.Name)
		if claimed, err = f.reserveInTurn(ctx, req, name); err != nil {
			return nil, err
		}
		reserved = name
		f.mu.Lock()
		st.name = name // listed, and unstaged, under the name it will have
		f.mu.Unlock()
	}
	dirs := parents(name)
	now := time.Now()
	file, err = f.stageFile(ctx, req, name, r, &st.arrival)
	if err != nil {
		return nil, err
	}
	fst := file.store
	f.mu.Lock()
	if f.closed || context.Cause(ctx) == ErrUnstaged {
		// Closed, or unstaged while this probe ran (Unstage cancels ctx
		// under f.mu, so no unstaged name gets into the tree).
		closed := f.closed
		f.mu.Unlock()
		fst.Unstage(context.WithoutCancel(ctx))
		if closed {
			return nil, errClosed
		}
		return nil, ErrUnstaged
	}
	f.files[name] = file
	f.dropFailedLocked(name, claimed)
	f.touchLocked(dirs, now)
	f.mu.Unlock()
	f.log.Info("staged", "name", name, "size", fst.Size(), "url", redact.URL(source))
	f.changed()
	return file, nil
}

// stageFile stages the probed source r under name in the store and returns
// its File, not yet in the tree; arr follows the whole download of a
// source of unknown size.
func (f *FS) stageFile(ctx context.Context, req Request, name string, r *store.Remote, arr *store.Arrival) (*File, error) {
	mtime := r.LastModified
	if mtime.IsZero() {
		mtime = time.Now()
	}
	st, err := f.opts.Manager.Stage(ctx, store.Source{Name: name, URL: req.URL, Header: req.Header}, r, arr)
	if err != nil {
		return nil, err
	}
	file := newFile(name, req.URL, req.Header, r, mtime.Truncate(time.Second), st)
	file.afterRead = req.AfterRead
	return file, nil
}

// newFile is the tree's file for store st, staged from source as r
// describes it. mtime is in whole seconds.
func newFile(name, source string, header http.Header, r *store.Remote, mtime time.Time, st *store.Store) *File {
	return &File{
		path:        name,
		url:         redact.URL(source),
		size:        st.Size(),
		modTime:     mtime,
		etag:        etag(r.URL, r.ETag, st.Size(), mtime),
		contentType: contentType(name, r.ContentType),
		verified:    r.Verified(),
		headerNames: headerNames(header),
		store:       st,
	}
}

// reserve claims name for a staging in progress, or says why it can't.
// The name is checked and split into its folders before the lock is
// taken: under it, the work is a few map lookups per folder (at most 64)
// and one pass over the staged names, however long the name.
func (f *FS) reserve(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	dirs := parents(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errClosed
	}
	if err := f.fullLocked(); err != nil {
		return err
	}
	if err := f.clashLocked(name, dirs); err != nil {
		return err
	}
	f.pending[name] = true
	return nil
}

// clashLocked reports a name already used by a file or folder, a folder
// needed where a file is, or a staging in progress; dirs are name's
// parents.
func (f *FS) clashLocked(name string, dirs []string) error {
	taken := func(p string) bool { return f.files[p] != nil || f.pending[p] }
	if taken(name) {
		return fmt.Errorf("%w: %q is already staged; unstage it first or stage it under another name", ErrNameTaken, name)
	}
	for _, dir := range dirs {
		if taken(dir) {
			return fmt.Errorf("%w: %q needs folder %q, which is a staged file; stage it under another name", ErrNameTaken, name, dir)
		}
	}
	if err := f.folderClashLocked(name); err != nil {
		return err
	}
	prefix := name + "/"
	for p := range f.files {
		if strings.HasPrefix(p, prefix) {
			return fmt.Errorf("%w: %q is a folder of staged files; stage it under another name", ErrNameTaken, name)
		}
	}
	for p := range f.pending {
		if strings.HasPrefix(p, prefix) {
			return fmt.Errorf("%w: %q is a folder of files being staged; stage it under another name", ErrNameTaken, name)
		}
	}
	return nil
}

// touchLocked records a change in the folders holding a name: dirs (its
// parents) and the root.
func (f *FS) touchLocked(dirs []string, t time.Time) {
	t = t.Truncate(time.Second)
	for _, dir := range append(dirs, "") {
		if t.After(f.dirTimes[dir]) || f.dirTimes[dir].IsZero() {
			f.dirTimes[dir] = t
		}
	}
}

// Unstage removes name from the tree at once. Open handles keep reading; the
// temp file goes when the last one closes.
func (f *FS) Unstage(ctx context.Context, name string) error {
	name = Clean(name)
	f.mu.Lock()
	file := f.files[name]
	if file == nil {
		if fo := f.folders[name]; fo != nil {
			n := len(fo.members)
			f.mu.Unlock()
			return fmt.Errorf("unstage %s: %w of %d files; unstage it recursively to remove it and everything in it", name, ErrIsFolder, n)
		}
		dropped := f.dropFailedLocked(name, time.Time{}) || f.dropFailedMemberLocked(name)
		probing := f.cancelProbingLocked(name) || f.dropProbingMemberLocked(name)
		f.mu.Unlock()
		switch {
		case probing:
			f.log.Info("unstaged", "name", name, "state", "probing")
			return nil
		case dropped:
			f.log.Info("unstaged", "name", name, "state", "failed")
			return nil
		}
		return fmt.Errorf("unstage %s: not staged: %w", name, fs.ErrNotExist)
	}
	f.mu.Unlock()
	removed, err := f.unstageFile(ctx, file, "unstaged")
	if !removed { // another unstage took it meanwhile
		return fmt.Errorf("unstage %s: not staged: %w", name, fs.ErrNotExist)
	}
	return err
}

// unstageFile removes file from the tree if it is still staged under its
// name (removed), logging msg with attrs.
func (f *FS) unstageFile(ctx context.Context, file *File, msg string, attrs ...any) (removed bool, err error) {
	name := file.Path()
	f.mu.Lock()
	if f.files[name] != file {
		f.mu.Unlock()
		return false, nil
	}
	delete(f.files, name)
	if fo := file.folder; fo != nil && f.folders[fo.name] == fo {
		delete(fo.members, name) // until a refresh finds it in the index again
	}
	f.touchLocked(parents(name), time.Now())
	f.mu.Unlock()
	f.log.Info(msg, append([]any{"name", name}, attrs...)...)
	f.changed()
	f.unstageHooks.run(file)
	if err := file.store.Unstage(ctx); err != nil {
		return true, fmt.Errorf("unstage %s: %w", name, err)
	}
	return true, nil
}

// lookup returns the staged file at p.
func (f *FS) lookup(p string) (*File, error) {
	p = Clean(p)
	f.mu.RLock()
	file := f.files[p]
	f.mu.RUnlock()
	if file == nil {
		return nil, &fs.PathError{Op: "open", Path: "/" + p, Err: fs.ErrNotExist}
	}
	return file, nil
}

// Files lists the staged files sorted by path.
func (f *FS) Files() []*File {
	f.mu.RLock()
	out := make([]*File, 0, len(f.files))
	for _, file := range f.files {
		out = append(out, file)
	}
	f.mu.RUnlock()
	slices.SortFunc(out, func(a, b *File) int { return strings.Compare(a.Path(), b.Path()) })
	return out
}

// Stat describes the file or folder at p. Errors are *fs.PathError.
func (f *FS) Stat(p string) (Info, error) {
	p = Clean(p)
	f.mu.RLock()
	defer f.mu.RUnlock()
	if file := f.files[p]; file != nil {
		return file.info(), nil
	}
	if p == "" || f.isDirLocked(p) {
		return f.dirInfoLocked(p), nil
	}
	return Info{}, &fs.PathError{Op: "stat", Path: "/" + p, Err: fs.ErrNotExist}
}

// isDirLocked: folders exist while a staged file lives under them.
func (f *FS) isDirLocked(p string) bool {
	prefix := p + "/"
	for name := range f.files {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// dirInfoLocked describes the folder at p.
func (f *FS) dirInfoLocked(p string) Info {
	t := f.dirTimes[p]
	if t.IsZero() {
		t = f.started
	}
	return Info{Path: p, IsDir: true, ModTime: t, ETag: fmt.Sprintf(`"d%x"`, t.Unix())}
}

func (file *File) info() Info {
	return Info{Path: file.Path(), Size: file.Size(), ModTime: file.ModTime(), ETag: file.ETag(), ContentType: file.ContentType()}
}

// ReadDir lists the folder at p, sorted by name. Errors are *fs.PathError.
func (f *FS) ReadDir(p string) ([]Info, error) {
	p = Clean(p)
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.files[p] != nil {
		return nil, &fs.PathError{Op: "readdir", Path: "/" + p, Err: errors.New("not a directory")}
	}
	prefix := ""
	if p != "" {
		prefix = p + "/"
	}
	seen := make(map[string]bool)
	var out []Info
	for name, file := range f.files {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if child, _, isDir := strings.Cut(rest, "/"); isDir {
			if !seen[child] {
				seen[child] = true
				out = append(out, f.dirInfoLocked(prefix+child))
			}
		} else {
			out = append(out, file.info())
		}
	}
	if len(out) == 0 && p != "" {
		return nil, &fs.PathError{Op: "readdir", Path: "/" + p, Err: fs.ErrNotExist}
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// Open returns a handle on the file at p; the handle keeps the file's bytes
// readable after an unstage, until Close.
func (f *FS) Open(p string) (*Handle, error) {
	file, err := f.lookup(p)
	if err != nil {
		return nil, err
	}
	if !file.store.OpenHandle() {
		return nil, &fs.PathError{Op: "open", Path: "/" + file.Path(), Err: fs.ErrNotExist}
	}
	file.track.noteOpen()
	return &Handle{fs: f, file: file}, nil
}

// Close refuses further staging; the store manager owns the temp files.
func (f *FS) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.endLife() // folders' queued stagings end without a request
}

// Handle is an open file. ReadAt may be called concurrently.
type Handle struct {
	fs     *FS
	file   *File
	closed sync.Once
}

// File returns the handle's file.
func (h *Handle) File() *File { return h.file }

// ReadAt reads len(p) bytes at off, waiting for them to arrive from the
// origin; only the real end of the file gives a short read (io.EOF).
func (h *Handle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	n, err := h.file.store.ReadAt(ctx, p, off)
	h.file.track.noteServed(off, int64(n))
	return n, err
}

// CopyTo writes [off, off+n) to w as the bytes arrive, letting a w that
// implements io.ReaderFrom (a net/http response) use sendfile.
func (h *Handle) CopyTo(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	done, err := h.file.store.CopyTo(ctx, w, off, n)
	h.file.track.noteServed(off, done)
	return done, err
}

// Close releases the handle. Closing twice is harmless.
func (h *Handle) Close() error {
	var err error
	h.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.fs.opts.CloseTimeout)
		defer cancel()
		if err = h.file.store.ReleaseHandle(ctx); err != nil {
			h.fs.log.Warn("release handle", "name", h.file.Path(), "err", err)
		}
		h.fs.dropGone(ctx, h.file)
		h.fs.handleClosed(h.file)
	})
	return err
}

// etag is ours, not the origin's: strong, stable while staged, and different
// for another version or URL of the same name.
func etag(url, originETag string, size int64, mtime time.Time) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", url, originETag, size, mtime.Unix())
	return fmt.Sprintf(`"%x"`, h.Sum64())
}

// contentType is decided by extension so no client has to sniff content
// (which would start a download); the origin's type is the fallback, and only
// when it is exactly one well-formed media type: browsers take the last type
// of a list such as "text/plain, text/html", so anything that does not parse
// whole as type/subtype is served as bytes. The origin's own text/html is
// never passed on.
func contentType(name, origin string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	if mt, params, err := mime.ParseMediaType(origin); err == nil && strings.Contains(mt, "/") && mt != "text/html" {
		if t := mime.FormatMediaType(mt, params); t != "" {
			return t
		}
	}
	return "application/octet-stream"
}

// errClosed is a store.ErrClosed, so every frontend answers a shutdown the
// same way whichever layer noticed it first.
var errClosed error = &kindError{"fsm is shutting down", store.ErrClosed}
