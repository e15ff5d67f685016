package index

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"fsm/internal/redact"
)

// List reads the index page at rawURL and returns the files under it,
// sorted by path, following sub-folder links as Options allow. client nil
// means http.DefaultClient.
//
// The folder is the URL the page finally came from, up to its last "/".
// Every error is a *PageError naming the page (or, for a limit, the
// folder) with its query string redacted; the causes to test for are
// *StatusError, ErrNotHTML, ErrNoLinks (the folder's own page only: an
// empty sub-folder is not an error), ErrTooMany, ErrTooLarge and the
// context's error.
func List(ctx context.Context, client Doer, rawURL string, o Options) ([]Entry, error) {
	o = o.withDefaults()
	if client == nil {
		client = http.DefaultClient
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, with its query
		}
		return nil, pageError(rawURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, pageError(rawURL, fmt.Errorf("not an http or https URL"))
	}
	u.Fragment, u.RawFragment = "", ""
	w := walker{ctx: ctx, client: client, o: o, seen: map[string]bool{}, files: map[string]bool{}}
	if err := w.walk(u); err != nil {
		return nil, err
	}
	slices.SortFunc(w.entries, func(a, b Entry) int { return slices.Compare(a.Path, b.Path) })
	return w.entries, nil
}

// walker is one listing. Only walk's goroutine touches its fields; the
// fetches of a batch run beside it but write only their own result.
type walker struct {
	ctx    context.Context
	client Doer
	o      Options

	root    folder
	pages   int             // pages fetched so far, against o.MaxPages
	seen    map[string]bool // pageKeys fetched or queued, requested and final: loop protection
	files   map[string]bool // entry paths listed, joined by "\x00": duplicates
	entries []Entry
}

// pending is a sub-folder page waiting to be read.
type pending struct {
	url   *url.URL
	depth int // sub-folder levels below the root
}

// walk reads the root page and then its sub-folders breadth first, so a
// listing that hits a limit has read the shallow levels completely.
// Sub-folder pages are fetched in batches of up to o.Parallel at once and
// read in queue order, so the listing, and which error ends it, does not
// depend on which answer comes first; memory stays at o.Parallel pages.
func (w *walker) walk(root *url.URL) error {
	if err := w.ctx.Err(); err != nil {
		return pageError(root.String(), err)
	}
	w.pages++
	w.seen[pageKey(root)] = true
	p, err := fetch(w.ctx, w.client, root, w.o.MaxPageBytes)
	if err != nil {
		return pageError(root.String(), err)
	}
	w.root = newFolder(p.url)
	w.seen[pageKey(p.url)] = true
	queue, found, err := w.collect(p, 0)
	if err != nil {
		return err
	}
	if found == 0 {
		return pageError(p.url.String(), ErrNoLinks)
	}
	for len(queue) > 0 {
		n := min(len(queue), w.o.Parallel, w.o.MaxPages-w.pages)
		if n == 0 {
			return pageError(w.root.url.String(), fmt.Errorf("%w: more than %d pages", ErrTooMany, w.o.MaxPages))
		}
		batch := queue[:n]
		queue = queue[n:]
		results := w.fetchAll(batch)
		for i, next := range batch {
			if results[i].err != nil {
				return results[i].err
			}
			more, err := w.read(next, results[i].page)
			if err != nil {
				return err
			}
			queue = append(queue, more...)
		}
	}
	return nil
}

// fetched is one page of a batch, or why it could not be read.
type fetched struct {
	page page
	err  error // a *PageError
}

// fetchAll fetches the batch's pages at once, counting them against
// MaxPages, and returns once all have answered.
func (w *walker) fetchAll(batch []pending) []fetched {
	w.pages += len(batch)
	results := make([]fetched, len(batch))
	var wg sync.WaitGroup
	for i, next := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.ctx.Err(); err != nil {
				results[i].err = pageError(next.url.String(), err)
				return
			}
			p, err := fetch(w.ctx, w.client, next.url, w.o.MaxPageBytes)
			if err != nil {
				err = pageError(next.url.String(), err)
			}
			results[i] = fetched{page: p, err: err}
		}()
	}
	wg.Wait()
	return results
}

// read collects a fetched sub-folder page, unless a redirect took it off
// the folder or to a page already read.
func (w *walker) read(next pending, p page) ([]pending, error) {
	if !w.underRoot(p.url) {
		w.o.Logger.Warn("index: sub-folder page redirected outside the folder, left out",
			"page", redact.URL(next.url.String()), "to", redact.URL(p.url.String()))
		return nil, nil
	}
	if key := pageKey(p.url); key != pageKey(next.url) {
		if w.seen[key] {
			return nil, nil // redirected to a page already read or queued
		}
		w.seen[key] = true
	}
	more, _, err := w.collect(p, next.depth)
	return more, err
}

// collect adds the files page p links to under the root and returns the
// sub-folders to read next, and how many links under the root it found
// (files, sub-folders, and links to either already listed). The error is
// ErrTooMany, raised at the first file beyond MaxEntries.
func (w *walker) collect(p page, depth int) (queue []pending, found int, err error) {
	self := pageKey(p.url)
	for _, u := range links(p.url, p.body) {
		l, ok := w.root.classify(u)
		if !ok || (!l.isFolder && pageKey(l.url) == self) {
			continue // not under the root, or the page itself (…/index.html)
		}
		found++
		if l.isFolder {
			key := pageKey(l.url)
			if w.seen[key] {
				continue
			}
			w.seen[key] = true
			if depth >= w.o.Depth {
				w.o.Logger.Warn("index: sub-folder beyond the depth limit, left out",
					"folder", redact.URL(l.url.String()), "depth", w.o.Depth)
				continue
			}
			queue = append(queue, pending{url: l.url, depth: depth + 1})
			continue
		}
		key := strings.Join(l.path, "\x00")
		if w.files[key] {
			continue
		}
		if len(w.entries) >= w.o.MaxEntries {
			return nil, found, pageError(w.root.url.String(), fmt.Errorf("%w: more than %d files", ErrTooMany, w.o.MaxEntries))
		}
		w.files[key] = true
		w.entries = append(w.entries, Entry{Path: l.path, URL: l.url.String()})
	}
	return queue, found, nil
}

func (w *walker) underRoot(u *url.URL) bool {
	if _, ok := w.root.classify(u); ok {
		return true
	}
	return pageKey(u) == pageKey(w.root.url)
}

// pageKey identifies a page for loop protection: scheme, host and decoded
// path elements, so two spellings of one path are one page.
func pageKey(u *url.URL) string {
	return u.Scheme + "://" + canonicalHost(u) + "/" + strings.Join(splitPath(u), "\x00")
}
