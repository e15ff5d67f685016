package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"fsm/internal/redact"
	"fsm/store"
	"fsm/vfs"
)

// source is one SOURCE given to fsm serve: a URL, or NAME=URL.
type source struct {
	name string // "": the name the origin gives
	url  string
}

// parseSources reads the SOURCE arguments. An argument that starts with a
// scheme is a URL whatever it holds (a query string may hold '='); else
// NAME=URL names it.
func parseSources(args []string) ([]source, error) {
	out := make([]source, 0, len(args))
	for i, a := range args {
		if hasScheme(a) {
			out = append(out, source{url: a})
			continue
		}
		name, u, ok := strings.Cut(a, "=")
		if !ok || name == "" || !hasScheme(u) {
			return nil, fmt.Errorf("SOURCE #%d: want an http:// or https:// URL, or NAME=URL", i+1)
		}
		if err := vfs.CheckName(vfs.Clean(name)); err != nil {
			return nil, fmt.Errorf("SOURCE #%d: %w", i+1, err)
		}
		out = append(out, source{name: name, url: u})
	}
	return out, nil
}

func hasScheme(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// toHeader turns parsed --header values into a request header; nil if none.
func toHeader(m map[string]string) http.Header {
	if len(m) == 0 {
		return nil
	}
	h := make(http.Header, len(m))
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// stageAll stages the command-line sources in the background while the
// server already answers: each file appears when its probe is done, and a
// source that fails stays listed as failed with its reason. The first
// SOURCE wins a name clash, whichever probe answers first (see sourceBatch). A
// source already restored under the same name and URL is left as it is.
// The returned channel closes when every staging has ended, or, once ctx
// ends, when none is running (see vfs.FS.Queue).
func stageAll(ctx context.Context, fsys *vfs.FS, sources []source, header http.Header, log *slog.Logger) <-chan struct{} {
	b := &sourceBatch{fsys: fsys, log: log, header: header, sources: sources, owner: make(map[string]int)}
	for _, src := range sources {
		cand := src.name
		if cand == "" {
			cand = vfs.ProvisionalName(src.url)
		}
		b.cand = append(b.cand, vfs.Clean(cand))
		done := make(chan struct{})
		b.done = append(b.done, done)
		b.release = append(b.release, sync.OnceFunc(func() { close(done) }))
	}
	// vfs's one staging queue runs them in order, behind any folder's
	// files: a source waiting for its turn only ever waits for earlier
	// sources, which are running or done by then. No deadlock, however
	// many sources there are.
	jobs := make([]func(context.Context), len(sources))
	for i := range sources {
		jobs[i] = func(ctx context.Context) {
			defer b.release[i]()
			b.stage(ctx, i)
		}
	}
	return fsys.Queue(ctx, jobs)
}

// sourceBatch is the command-line sources being staged. A source claims its name
// only after the earlier sources expected under the same name (the one
// given, else the URL's last segment) have claimed theirs or failed, so a
// later one never waits for an unrelated slow probe. An earlier source
// whose probe tells an unexpected name (Content-Disposition, a redirect)
// that a later one already took takes it over: the later one is unstaged
// and listed as failed.
type sourceBatch struct {
	fsys    *vfs.FS
	log     *slog.Logger
	header  http.Header
	sources []source
	cand    []string        // the name each source is expected under
	done    []chan struct{} // closed by release once source i claimed its name or failed
	release []func()

	mu    sync.Mutex     // guards owner
	owner map[string]int // name -> the source staged under it
}

// turn is source i's vfs.Request.Turn; tried learns the name it claims.
func (b *sourceBatch) turn(i int, tried *string) func(context.Context, string) (func(), error) {
	return func(ctx context.Context, name string) (func(), error) {
		name = vfs.Clean(name)
		*tried = name
		for j := range i {
			if b.cand[j] != name {
				continue
			}
			select {
			case <-b.done[j]:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return b.release[i], nil
	}
}

// stage stages source i, unless a restored file already is it.
func (b *sourceBatch) stage(ctx context.Context, i int) {
	src := b.sources[i]
	var tried string
	// Failures are listed here, once the retry below is decided.
	req := vfs.Request{URL: src.url, Name: src.name, Header: b.header, Turn: b.turn(i, &tried)}
	if src.name != "" {
		switch same, staged := b.fsys.StagedFrom(src.name, src.url); {
		case same:
			b.log.Debug("source already staged from the last run", "name", src.name)
			return
		case staged:
			err := fmt.Errorf("%w: %q is already staged from another URL (restored from the last run); unstage it first or give another name", vfs.ErrNameTaken, vfs.Clean(src.name))
			b.fsys.ListFailed(req, src.name, err)
			b.log.Error("staging failed; the source stays listed as failed until unstaged", "url", redact.URL(src.url), "err", err)
			return
		}
	} else if name, ok := b.fsys.NameFrom(src.url); ok {
		b.log.Debug("source already staged from the last run", "name", name)
		return
	}
	file, err := b.fsys.Stage(ctx, req)
	if err != nil && errors.Is(err, vfs.ErrNameTaken) {
		if j, ok := b.displace(ctx, i, tried); ok {
			file, err = b.fsys.Stage(ctx, req)
			loser := vfs.Request{URL: b.sources[j].url, Header: b.header}
			b.fsys.ListFailed(loser, tried, fmt.Errorf("%w: %q goes to an earlier SOURCE, %s", vfs.ErrNameTaken, tried, redact.URL(src.url)))
			b.log.Error("staging failed: an earlier SOURCE took the name", "name", tried, "url", redact.URL(b.sources[j].url))
		}
	}
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, store.ErrClosed) {
			name := tried
			if name == "" {
				name = b.cand[i]
			}
			b.fsys.ListFailed(req, name, err)
			b.log.Error("staging failed; the source stays listed as failed until unstaged", "url", redact.URL(src.url), "err", err)
		}
		return
	}
	b.mu.Lock()
	b.owner[file.Path()] = i
	b.mu.Unlock()
}

// displace unstages name when a later source of the sourceBatch holds it, so
// that source i, earlier, can have it; it returns the later one.
func (b *sourceBatch) displace(ctx context.Context, i int, name string) (int, bool) {
	b.mu.Lock()
	j, ok := b.owner[name]
	if ok && j > i {
		delete(b.owner, name)
	}
	b.mu.Unlock()
	if !ok || j < i {
		return 0, false
	}
	if err := b.fsys.Unstage(ctx, name); err != nil {
		return 0, false
	}
	return j, true
}
