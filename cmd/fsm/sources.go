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
// source that fails stays listed as failed with its reason. Names are
// claimed in command-line order, whichever probe answers first, so the
// first SOURCE wins a clash. A source already restored under the same name
// and URL is left as it is. The returned channel closes when every staging
// has ended.
func stageAll(ctx context.Context, fsys *vfs.FS, sources []source, header http.Header, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	// turns[i] closes once source i has claimed its name or failed.
	turns := make([]chan struct{}, len(sources))
	for i := range turns {
		turns[i] = make(chan struct{})
	}
	sem := make(chan struct{}, stagingConcurrency)
	var wg sync.WaitGroup
	go func() {
		defer close(done)
		defer wg.Wait()
		// Slots are taken in order, so a source waiting for its turn only
		// ever waits for sources that hold a slot or are done: no
		// deadlock, however many sources there are.
		for i, src := range sources {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				release := sync.OnceFunc(func() { close(turns[i]) })
				defer release()
				turn := func(ctx context.Context) (func(), error) {
					for _, t := range turns[:i] {
						select {
						case <-t:
						case <-ctx.Done():
							return nil, ctx.Err()
						}
					}
					return release, nil
				}
				stageOne(ctx, fsys, src, header, turn, log)
			}()
		}
	}()
	return done
}

// stageOne stages one command-line source, unless a restored file already
// is it.
func stageOne(ctx context.Context, fsys *vfs.FS, src source, header http.Header, turn func(context.Context) (func(), error), log *slog.Logger) {
	req := vfs.Request{URL: src.url, Name: src.name, Header: header, KeepFailure: true, Turn: turn}
	if src.name != "" {
		switch same, staged := fsys.StagedFrom(src.name, src.url); {
		case same:
			log.Debug("source already staged from the last run", "name", src.name)
			return
		case staged:
			err := fmt.Errorf("%w: %q is already staged from another URL (restored from the last run); unstage it first or give another name", vfs.ErrNameTaken, vfs.Clean(src.name))
			fsys.ListFailed(req, src.name, err)
			log.Error("staging failed; the source stays listed as failed until unstaged", "url", redact.URL(src.url), "err", err)
			return
		}
	} else if name, ok := fsys.NameFrom(src.url); ok {
		log.Debug("source already staged from the last run", "name", name)
		return
	}
	if _, err := fsys.Stage(ctx, req); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		log.Error("staging failed; the source stays listed as failed until unstaged", "url", redact.URL(src.url), "err", err)
	}
}
