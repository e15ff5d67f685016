package vfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"fsm/internal/redact"
	"fsm/internal/safetext"
	"fsm/store"
)

// Listed is one file a folder's index links to.
type Listed struct {
	// Path is the file's path below the folder, one decoded element per
	// path segment. An element may hold anything, "/" included: the name
	// rules decide whether it can be staged.
	Path []string
	URL  string // absolute
}

// Lister reads the index page at url, and its sub-folders' pages up to
// depth levels below it (0: its own page only), sending header with each
// request. A listing is all or nothing; its errors name the page.
type Lister func(ctx context.Context, url string, header http.Header, depth int) ([]Listed, error)

// ErrIsFolder marks a file operation on a staged folder (unstaging one
// without asking for its files to go too).
var ErrIsFolder = errors.New("is a folder")

// errBadDepth is an fs.ErrInvalid, as a name staging refuses is.
var errBadDepth error = &kindError{"bad depth", fs.ErrInvalid}

// DefaultFolderDepth is how many levels of sub-folders a folder source
// follows when the request does not say.
const DefaultFolderDepth = 8

// maxFolderDepth: a name is at most maxNameDepth elements deep, so deeper
// sub-folders could hold no stageable file.
const maxFolderDepth = maxNameDepth - 1

// FolderRequest asks for the files under a folder URL, as its index page
// links them, to be staged under one folder name.
type FolderRequest struct {
	URL  string // the folder's index page
	Name string // "": the URL's last path segment
	// Depth is how many levels of sub-folders are followed: 0 reads the
	// folder's own page only. Callers default it to DefaultFolderDepth.
	Depth int
	// Header is sent with the index pages and every file's requests.
	Header http.Header
}

// folder is a staged folder source: a name in the tree that its index
// owns. Every file under the name came from the index; no other staging
// may use a name under it.
type folder struct {
	name   string
	source string // as requested, query included: refreshes list it again
	url    string // redacted: safe to show

	// The fields below are guarded by FS.mu; a refresh that lists
	// successfully sets depth and the headers anew.
	depth       int
	header      http.Header
	headerNames []string
	members     map[string]*member // the files its last listing linked, by full name
	listing     bool               // a listing is under way (staging or refreshing)
}

// member is one file a folder's index links to. A refresh that no longer
// finds it drops the member; a staging of it that ends after that, or
// after the folder is unstaged, is thrown away.
type member struct {
	url string // as linked
	err error  // why it cannot be staged; nil while queued, probing or staged. Guarded by FS.mu
	// arrival follows its whole download when the origin does not tell
	// its size (staging.arrival). It has its own lock.
	arrival store.Arrival
}

// Folder is a staged folder as listings show it.
type Folder struct {
	Name        string
	URL         string // query string removed
	Depth       int
	HeaderNames []string
	Files       int // files its index links to, failed ones included
}

// StageFolder lists req.URL's index page and stages every file under it
// in the background, through the staging queue, under the folder's name:
// each appears as its probe is done and is then a file like any other. A
// file whose name breaks the name rules is listed as failed with the
// reason. It returns once the listing is read; a listing that fails (not
// HTML, links to nothing under it, too large) stages nothing.
//
// Staging a folder that is staged already, from the same URL, refreshes
// it: files new in the index are staged, files gone from it are unstaged
// (at their last Close when open), files that failed are tried again.
// Files kept are not probed again: a change at the origin fails them as
// changed when their bytes are read, as for a file staged alone. refreshed
// says which it was.
func (f *FS) StageFolder(ctx context.Context, req FolderRequest) (_ Folder, refreshed bool, err error) {
	name := req.Name
	if name == "" {
		if name, err = folderName(req.URL); err != nil {
			return Folder{}, false, err
		}
	}
	name = Clean(name)
	if err := CheckName(name); err != nil {
		return Folder{}, false, err
	}
	if req.Depth < 0 || req.Depth > maxFolderDepth {
		return Folder{}, false, fmt.Errorf("stage folder %s: depth %d, want 0 to %d: %w", name, req.Depth, maxFolderDepth, errBadDepth)
	}
	if f.opts.List == nil {
		return Folder{}, false, errors.New("stage folder: this tree has no index lister (vfs.Options.List)")
	}
	fo, refreshed, header, err := f.claimFolder(name, req)
	if err != nil {
		return Folder{}, false, err
	}
	listed, err := f.opts.List(ctx, req.URL, header, req.Depth)
	if err != nil {
		f.releaseFolder(fo, refreshed)
		return Folder{}, false, err
	}
	want := memberNames(name, listed)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		f.releaseFolder(fo, refreshed)
		return Folder{}, false, errClosed
	}
	if refreshed && f.folders[name] != fo {
		f.mu.Unlock()
		return Folder{}, false, fmt.Errorf("stage folder %s: %w", name, ErrUnstaged)
	}
	if err := f.roomLocked(fo, want); err != nil {
		f.mu.Unlock()
		f.releaseFolder(fo, refreshed)
		return Folder{}, false, err
	}
	fo.depth, fo.header, fo.headerNames = req.Depth, header, headerNames(header)
	queued, drop := f.reconcileLocked(fo, want)
	f.queued += len(queued)
	fo.listing = false
	if !refreshed {
		delete(f.pending, name)
		f.folders[name] = fo
	}
	out := fo.infoLocked()
	f.mu.Unlock()
	f.unstageFiles(ctx, drop)
	for _, q := range queued {
		f.queue.push(func() { f.stageMember(fo, q.name, q.m) })
	}
	f.log.Info("folder listed", "name", name, "files", out.Files, "new", len(queued), "removed", len(drop), "url", redact.URL(req.URL))
	return out, refreshed, nil
}

// claimFolder reserves name for a new folder, or marks the staged folder
// of that name as being listed again; it returns the headers to list with
// (a refresh without any keeps the folder's).
func (f *FS) claimFolder(name string, req FolderRequest) (*folder, bool, http.Header, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, false, nil, errClosed
	}
	if fo := f.folders[name]; fo != nil {
		switch {
		case fo.source != req.URL:
			return nil, false, nil, fmt.Errorf("%w: %q is a folder staged from %s; unstage it first or stage this one under another name", ErrNameTaken, name, fo.url)
		case fo.listing:
			return nil, false, nil, fmt.Errorf("%w: folder %q is being listed by another request; try again when it is done", ErrNameTaken, name)
		}
		fo.listing = true // its depth and headers change only if the listing succeeds
		header := req.Header
		if header == nil {
			header = fo.header
		}
		return fo, true, header, nil
	}
	if err := f.clashLocked(name, parents(name)); err != nil {
		return nil, false, nil, err
	}
	f.pending[name] = true
	return &folder{
		name:        name,
		source:      req.URL,
		url:         redact.Bare(req.URL),
		depth:       req.Depth,
		header:      req.Header,
		headerNames: headerNames(req.Header),
		members:     make(map[string]*member),
		listing:     true,
	}, false, req.Header, nil
}

// releaseFolder undoes claimFolder after a failed listing.
func (f *FS) releaseFolder(fo *folder, refreshed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fo.listing = false
	if !refreshed {
		delete(f.pending, fo.name)
	}
}

// queuedMember is a member to stage.
type queuedMember struct {
	name string
	m    *member
}

// roomLocked refuses a listing whose new files would take the tree past
// MaxFiles; the files it drops are not counted, so the bound errs safe.
func (f *FS) roomLocked(fo *folder, want map[string]*member) error {
	adds := 0
	for name, w := range want {
		if m := fo.members[name]; w.err == nil && (m == nil || m.url != w.url || m.err != nil) {
			adds++
		}
	}
	held := len(f.files) + len(f.pending) + f.queued
	if f.pending[fo.name] {
		held-- // the folder's own name, reserved while it is listed, is no file
	}
	if limit := f.opts.MaxFiles; held+adds > limit {
		return fmt.Errorf("%w: folder %s would add %d files to the %d fsm holds, past its limit of %d; unstage some first", ErrTooMany, fo.name, adds, held, limit)
	}
	return nil
}

// reconcileLocked makes fo's members the listing want: it returns the
// members to stage and the files to unstage now. A file gone from the
// index but open is marked gone and goes at its last Close.
func (f *FS) reconcileLocked(fo *folder, want map[string]*member) (queued []queuedMember, drop []*File) {
	now := time.Now()
	for name, m := range fo.members {
		if w, ok := want[name]; ok && w.url == m.url && m.err == nil {
			delete(want, name) // kept as it is: staged, or queued already
			continue
		}
		delete(fo.members, name)
		file := f.files[name]
		if file == nil || file.folder != fo {
			continue // failed, or still queued: its staging will see it is no member
		}
		if file.store.Progress().Handles > 0 {
			file.gone = true
			continue
		}
		delete(f.files, name)
		f.touchLocked(parents(name), now)
		drop = append(drop, file)
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names) // staged in listing order
	for _, name := range names {
		m := want[name]
		fo.members[name] = m
		if m.err == nil {
			queued = append(queued, queuedMember{name, m})
		}
	}
	return queued, drop
}

// stageMember probes and stages one file of a folder, unless the folder
// no longer lists it by then. A failure stays listed in the folder.
func (f *FS) stageMember(fo *folder, name string, m *member) {
	ctx := f.life
	header, ok := f.memberHeader(fo, name, m)
	if ctx.Err() != nil || !ok {
		f.mu.Lock()
		f.queued--
		f.mu.Unlock()
		return
	}
	req := Request{URL: m.url, Header: header}
	r, err := f.opts.Manager.Probe(ctx, m.url, header)
	var file *File
	if err == nil {
		file, err = f.stageFile(ctx, req, name, r, &m.arrival)
	}
	f.mu.Lock()
	f.queued-- // in the same section as the file's arrival: never counted twice
	current := !f.closed && f.folders[fo.name] == fo && fo.members[name] == m
	var old *File
	switch {
	case !current:
	case err != nil:
		m.err = err
	default:
		if prev := f.files[name]; prev != nil && prev.gone {
			old = prev // an open file a refresh dropped, back in the index
		}
		file.folder = fo
		f.files[name] = file
		f.touchLocked(parents(name), time.Now())
	}
	f.mu.Unlock()
	if current && err == nil {
		f.changed()
	}
	switch {
	case !current:
		if file != nil {
			file.store.Unstage(ctx)
		}
	case err != nil:
		if ctx.Err() == nil {
			f.log.Warn("folder file not staged; it stays listed as failed", "name", name, "err", err)
		}
	default:
		f.log.Debug("staged", "name", name, "size", file.Size(), "url", redact.URL(m.url))
		if old != nil {
			f.unstageFiles(ctx, []*File{old})
		}
	}
}

// memberHeader returns the folder's request headers while m is still its
// member name.
func (f *FS) memberHeader(fo *folder, name string, m *member) (http.Header, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return fo.header, !f.closed && f.folders[fo.name] == fo && fo.members[name] == m
}

// UnstageFolder removes the folder name and every file in it at once, or
// the file name when it is a file. Open handles keep reading; each temp
// file goes when its last handle closes.
func (f *FS) UnstageFolder(ctx context.Context, name string) error {
	name = Clean(name)
	f.mu.Lock()
	fo := f.folders[name]
	if fo == nil {
		f.mu.Unlock()
		return f.Unstage(ctx, name)
	}
	delete(f.folders, name) // a refresh under way then ends as unstaged
	var drop []*File
	now := time.Now()
	for p, file := range f.files {
		if file.folder == fo {
			delete(f.files, p)
			f.touchLocked(parents(p), now)
			drop = append(drop, file)
		}
	}
	f.mu.Unlock()
	f.log.Info("unstaged folder", "name", name, "files", len(drop))
	return f.unstageFiles(ctx, drop)
}

// unstageFiles ends files already out of the tree.
func (f *FS) unstageFiles(ctx context.Context, files []*File) error {
	var errs []error
	for _, file := range files {
		f.unstageHooks.run(file)
		if err := file.store.Unstage(ctx); err != nil {
			errs = append(errs, fmt.Errorf("unstage %s: %w", file.Path(), err))
		}
	}
	if len(files) > 0 {
		f.changed()
	}
	return errors.Join(errs...)
}

// dropGone unstages file at its last Close when a refresh found it gone
// from its folder's index.
func (f *FS) dropGone(ctx context.Context, file *File) {
	f.mu.Lock()
	if !file.gone || f.files[file.path] != file || file.store.Progress().Handles > 0 {
		f.mu.Unlock()
		return
	}
	delete(f.files, file.path)
	f.touchLocked(parents(file.path), time.Now())
	f.mu.Unlock()
	f.log.Info("unstaged", "name", file.path, "why", "gone from its folder's index")
	f.unstageFiles(ctx, []*File{file})
}

// Folders lists the staged folders sorted by name.
func (f *FS) Folders() []Folder {
	f.mu.RLock()
	out := make([]Folder, 0, len(f.folders))
	for _, fo := range f.folders {
		out = append(out, fo.infoLocked())
	}
	f.mu.RUnlock()
	slices.SortFunc(out, func(a, b Folder) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Folder returns the staged folder name.
func (f *FS) Folder(name string) (Folder, bool) {
	name = Clean(name)
	f.mu.RLock()
	defer f.mu.RUnlock()
	fo := f.folders[name]
	if fo == nil {
		return Folder{}, false
	}
	return fo.infoLocked(), true
}

func (fo *folder) infoLocked() Folder {
	return Folder{Name: fo.name, URL: fo.url, Depth: fo.depth, HeaderNames: fo.headerNames, Files: len(fo.members)}
}

// memberEntriesLocked lists fo's members that are not files in the tree:
// queued or probing (listed as probing), or failed.
func (f *FS) memberEntriesLocked(fo *folder, out []Entry) []Entry {
	for name := range fo.members {
		if file := f.files[name]; file != nil && file.folder == fo {
			continue
		}
		if e, ok := f.memberEntryLocked(name); ok {
			out = append(out, e)
		}
	}
	return out
}

// memberNames turns a listing into members by full name. A path that
// breaks the name rules, or that a file and a folder of the listing both
// need, is a member that failed with the reason.
func memberNames(folderName string, listed []Listed) map[string]*member {
	out := make(map[string]*member, len(listed))
	for _, e := range listed {
		name, err := memberName(folderName, e.Path)
		if _, dup := out[name]; dup {
			continue // two spellings of one name: the first link wins
		}
		out[name] = &member{url: e.URL, err: err}
	}
	for name, m := range out {
		for dir := path.Dir(name); dir != folderName && dir != "."; dir = path.Dir(dir) {
			if other := out[dir]; other != nil && m.err == nil {
				m.err = fmt.Errorf("%w %q: %q is also a file in the listing", ErrBadName, name, dir)
				if other.err == nil {
					other.err = fmt.Errorf("%w %q: the listing also has a folder %q", ErrBadName, dir, dir)
				}
			}
		}
	}
	return out
}

// memberName is the tree name of the file at p under folderName, and why
// it cannot be staged (or nil).
func memberName(folderName string, p []string) (string, error) {
	var bad string
	elems := make([]string, len(p))
	for i, el := range p {
		elems[i] = el
		if strings.Contains(el, "/") {
			// Listed as the index escapes it, so it reads as one name.
			elems[i] = strings.ReplaceAll(el, "/", "%2F")
			bad = el
		}
	}
	name := folderName + "/" + strings.Join(elems, "/")
	if bad != "" {
		return name, fmt.Errorf("%w %q: element %q holds a /", ErrBadName, safetext.Cut(name, 100), bad)
	}
	return name, CheckName(name)
}

// folderName is a folder URL's last path segment, decoded.
func folderName(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: the folder URL does not parse; give a name", ErrNoName)
	}
	base := path.Base(strings.TrimRight(u.Path, "/"))
	if base == "/" || base == "." || base == "" {
		return "", fmt.Errorf("%w: the folder URL has no last path segment; give a name", ErrNoName)
	}
	if dec, err := url.PathUnescape(base); err == nil {
		base = dec
	}
	if strings.Contains(base, "/") {
		return "", fmt.Errorf("%w %q: holds a /; give a name", ErrBadName, base)
	}
	return base, nil
}

// folderClashLocked reports a name that a staged folder owns (the folder
// or a name under it), or that would hold a staged folder.
func (f *FS) folderClashLocked(name string) error {
	for fn := range f.folders {
		switch {
		case name == fn:
			return fmt.Errorf("%w: %q is a staged folder; stage it again with its folder URL to refresh it, or unstage it first", ErrNameTaken, name)
		case strings.HasPrefix(name, fn+"/"):
			return fmt.Errorf("%w: %q is inside staged folder %q, whose index owns it; stage it under another name", ErrNameTaken, name, fn)
		case strings.HasPrefix(fn, name+"/"):
			return fmt.Errorf("%w: %q holds staged folder %q; stage it under another name", ErrNameTaken, name, fn)
		}
	}
	return nil
}

// dropFailedMemberLocked forgets the failed folder file name and reports
// whether there was one; a refresh tries it again.
func (f *FS) dropFailedMemberLocked(name string) bool {
	e, ok := f.memberEntryLocked(name)
	if !ok || e.State != StateFailed {
		return false
	}
	delete(f.folders[e.Folder].members, name)
	return true
}

// dropProbingMemberLocked forgets the folder file name while it is
// queued or being probed, and reports whether it was: its staging, when
// it ends, is thrown away. A refresh stages it again.
func (f *FS) dropProbingMemberLocked(name string) bool {
	e, ok := f.memberEntryLocked(name)
	if !ok || e.State != StateProbing {
		return false
	}
	delete(f.folders[e.Folder].members, name)
	return true
}
