package vfs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"fsm/internal/redact"
	"fsm/store"
)

// Request asks for one source to be staged.
type Request struct {
	URL  string
	Name string // "": the name the origin gives
	// Header is sent with every request for this source (Authorization, a
	// cookie). Listings show its names only; a persistent cache dir keeps
	// the values in its 0600 state file.
	Header http.Header
	// KeepFailure leaves a source that fails to stage listed as failed,
	// with its reason, until it is unstaged: for sources given at start,
	// whose caller cannot be told otherwise.
	KeepFailure bool
	// Turn, if set, is called with the name once it is known and before
	// it is claimed; release is called once the claim is made or refused.
	// Sources given together use it to claim names in the order given,
	// whichever probe answers first.
	Turn func(ctx context.Context, name string) (release func(), err error)
	// AfterRead is this file's after-read policy; "": the tree's.
	AfterRead AfterRead
}

// reserveInTurn claims name for req, in req's turn if it has one, and
// returns when the claim was made: before the turn passes to the next
// source, so any failure of that source comes after it.
func (f *FS) reserveInTurn(ctx context.Context, req Request, name string) (time.Time, error) {
	if req.Turn == nil {
		if err := f.reserve(name); err != nil {
			return time.Time{}, err
		}
		return time.Now(), nil
	}
	release, err := req.Turn(ctx, name)
	if err != nil {
		return time.Time{}, err
	}
	defer release()
	if err := f.reserve(name); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil // evaluated before release runs
}

// ListFailed lists req under name as failed with err, as a source with
// KeepFailure that fails to stage is, until it is unstaged.
func (f *FS) ListFailed(req Request, name string, err error) {
	st := &staging{
		name:        Clean(name),
		url:         redact.URL(req.URL),
		headerNames: headerNames(req.Header),
		since:       time.Now(),
		failed:      time.Now(),
		err:         err,
	}
	f.mu.Lock()
	f.staging[st] = true
	f.mu.Unlock()
}

// State is where a staged name is in its life, as listings show it: the
// state of its store, or probing while there is none yet. It is the
// store's type, so a listing shows a store's state as the store tells it.
type State = store.State

const (
	StateProbing     State = "probing"       // the origin is being asked for size and validators
	StateIdle              = store.StateIdle // staged; nothing downloaded (or evicted)
	StateDownloading       = store.StateDownloading
	StateComplete          = store.StateComplete
	StateError             = store.StateError  // the origin failed past the retry budget; the next read tries again
	StateFailed            = store.StateFailed // staging failed, or the origin's file changed: permanent
)

// staging is a source that is being probed, or that failed to stage and
// was asked to stay listed. It is not in the tree.
type staging struct {
	name        string // the requested name, else a provisional one from the URL
	url         string // redacted, its query marked
	headerNames []string
	since       time.Time
	afterRead   AfterRead // as requested; "" shows as ""
	err         error     // nil while probing
	req         *Request  // what failed, for Retry; set with err
	failed      time.Time // when err was set
	// cancel ends the probe (and the whole download of a source of unknown
	// size) when the name is unstaged while probing; nil once failed.
	cancel context.CancelCauseFunc
	// arrival follows the whole download of a source of unknown size, so
	// that it is listed as downloading, with its bytes so far, before it
	// is in the tree. It has its own lock.
	arrival store.Arrival
}

// ErrUnstaged is what a staging fails with when its name is unstaged while
// it is still probing (or downloading a source of unknown size whole).
var ErrUnstaged = errors.New("unstaged while being staged")

// Entry is one staged name as the control API lists it: a file in the
// tree, a source being probed, or a source that failed to stage.
type Entry struct {
	Name        string
	URL         string // query string removed
	URLQuery    bool   // the URL has a query string, never shown (signed URLs keep secrets there)
	HeaderNames []string
	State       State
	Err         error // why, when State is error or failed
	File        *File // nil while probing or when staging failed
	Progress    store.Progress
	Folder      string    // the staged folder it is in, else ""
	AfterRead   AfterRead // the policy that applies: the file's own, else the tree's
}

// Stage stages req.URL under req.Name (or the name the origin gives).
// Its size and mtime are learned now and fixed; a source whose size the
// origin will not tell is downloaded whole first. While it runs the source
// is listed as probing, and during such a whole download as downloading,
// with its bytes so far and no size.
func (f *FS) Stage(ctx context.Context, req Request) (*File, error) {
	name := req.Name
	var claimed time.Time
	if name != "" {
		name = Clean(name)
		var err error
		if claimed, err = f.reserveInTurn(ctx, req, name); err != nil {
			if req.KeepFailure && !errors.Is(err, errClosed) && ctx.Err() == nil {
				f.ListFailed(req, name, err)
			}
			return nil, err
		}
	} else {
		// The name comes with the probe, and reserve checks the limit
		// again then; a full tree need not ask the origin first.
		f.mu.RLock()
		err := f.fullLocked()
		f.mu.RUnlock()
		if err != nil {
			return nil, err
		}
	}
	st := &staging{
		name:        name,
		url:         redact.URL(req.URL),
		headerNames: headerNames(req.Header),
		since:       time.Now(),
		afterRead:   req.AfterRead,
	}
	if st.name == "" {
		st.name = provisionalName(req.URL)
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	st.cancel = cancel
	f.mu.Lock()
	f.staging[st] = true
	f.mu.Unlock()
	file, err := f.stage(sctx, st, req, name, claimed)
	if err != nil && errors.Is(context.Cause(sctx), ErrUnstaged) {
		err = fmt.Errorf("stage %s: %w", redact.URL(req.URL), ErrUnstaged)
	}
	f.mu.Lock()
	delete(f.staging, st)
	st.cancel = nil
	if err != nil && req.KeepFailure && !errors.Is(err, errClosed) && !errors.Is(err, ErrUnstaged) {
		st.err, st.req, st.failed = err, &req, time.Now()
		f.staging[st] = true
	}
	f.mu.Unlock()
	if err != nil {
		return nil, err // the probe names the URL; name errors name the name
	}
	return file, nil
}

// ProvisionalName is what a source is listed as before its probe tells the
// real name (and usually its name): the URL's last path segment, else the
// URL itself.
func ProvisionalName(raw string) string { return provisionalName(raw) }

func provisionalName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return redact.URL(raw)
	}
	if base := path.Base(u.Path); base != "/" && base != "." && !strings.HasSuffix(u.Path, "/") {
		return base
	}
	return u.Host + u.Path
}

func headerNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, http.CanonicalHeaderKey(k))
	}
	slices.Sort(names)
	return names
}

// dropFailedLocked forgets failed stagings listed as name that failed
// before claimed (zero: all of them) and reports whether there were any. A
// file staged under the name supersedes the failures before its claim; one
// that failed after it lost the name to that file (the first of serve's
// SOURCEs wins a clash) and stays listed, saying so.
func (f *FS) dropFailedLocked(name string, claimed time.Time) bool {
	dropped := false
	for st := range f.staging {
		if st.err != nil && st.name == name && (claimed.IsZero() || st.failed.Before(claimed)) {
			delete(f.staging, st)
			dropped = true
		}
	}
	return dropped
}

// cancelProbingLocked ends the stagings in progress listed as name (their
// probe, or the whole download of a source of unknown size) and drops them
// from the listing; it reports whether there were any.
func (f *FS) cancelProbingLocked(name string) bool {
	found := false
	for st := range f.staging {
		if st.err == nil && st.name == name {
			st.cancel(ErrUnstaged)
			delete(f.staging, st)
			found = true
		}
	}
	return found
}

// Entries lists every staged name, sorted by name: files, sources being
// probed and sources that failed to stage.
func (f *FS) Entries() []Entry {
	f.mu.RLock()
	out := make([]Entry, 0, len(f.files)+len(f.staging))
	for _, file := range f.files {
		out = append(out, f.entryOf(file))
	}
	for st := range f.staging {
		out = append(out, st.entry())
	}
	for _, fo := range f.folders {
		out = f.memberEntriesLocked(fo, out)
	}
	f.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Entry returns the entry listed as name: the staged file if there is one,
// else a staging in progress, else a failed one.
func (f *FS) Entry(name string) (Entry, bool) {
	name = Clean(name)
	f.mu.RLock()
	defer f.mu.RUnlock()
	if file := f.files[name]; file != nil {
		return f.entryOf(file), true
	}
	var found *staging
	for st := range f.staging {
		if st.name == name && (found == nil || found.err != nil) {
			found = st
		}
	}
	if found == nil {
		return f.memberEntryLocked(name)
	}
	return found.entry(), true
}

// memberEntryLocked is the entry of a folder's file that is not in the
// tree: queued, probing or failed.
func (f *FS) memberEntryLocked(name string) (Entry, bool) {
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		fo := f.folders[dir]
		if fo == nil {
			continue
		}
		m := fo.members[name]
		if m == nil {
			return Entry{}, false
		}
		e := Entry{Name: name, HeaderNames: fo.headerNames, State: StateProbing, Folder: fo.name}
		e.URL, e.URLQuery = shownURL(redact.URL(m.url))
		if m.err != nil {
			e.State, e.Err = StateFailed, m.err
		} else if p, ok := m.arrival.Progress(); ok {
			e.State, e.Progress = p.State, p
		}
		return e, true
	}
	return Entry{}, false
}

func (st *staging) entry() Entry {
	e := Entry{Name: st.name, HeaderNames: st.headerNames, State: StateProbing, AfterRead: st.afterRead}
	e.URL, e.URLQuery = shownURL(st.url)
	if st.err != nil {
		e.State, e.Err = StateFailed, st.err
	} else if p, ok := st.arrival.Progress(); ok {
		e.State, e.Progress = p.State, p
	}
	return e
}

// entryOf is file's entry, with the after-read policy that applies.
func (f *FS) entryOf(file *File) Entry {
	e := file.entry()
	e.AfterRead = f.policy(file)
	return e
}

func (file *File) entry() Entry {
	p := file.store.Progress()
	e := Entry{
		Name:        file.Path(),
		HeaderNames: file.HeaderNames(),
		State:       p.State,
		File:        file,
		Progress:    p,
		Err:         p.Err,
	}
	e.URL, e.URLQuery = shownURL(file.url)
	if file.folder != nil {
		e.Folder = file.folder.name
	}
	if e.State != StateError && e.State != StateFailed {
		e.Err = nil
	}
	return e
}
