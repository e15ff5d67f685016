// Package folderlist wires package index into the tree: it is the
// vfs.Lister fsm stages folder sources with. It sits apart from both so
// that neither imports the other.
package folderlist

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"fsm/index"
	"fsm/vfs"
)

// New returns a vfs.Lister that reads index pages with client (nil: a
// client with a 60 s bound per page), sending each folder's request
// headers with its pages too.
func New(client *http.Client, log *slog.Logger) vfs.Lister {
	if client == nil {
		client = &http.Client{Timeout: pageTimeout}
	}
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, url string, header http.Header, depth int) ([]vfs.Listed, error) {
		es, err := index.List(ctx, headerDoer{client, header}, url, index.Options{
			Depth:  indexDepth(depth),
			Logger: log,
		})
		if err != nil {
			return nil, err
		}
		out := make([]vfs.Listed, len(es))
		for i, e := range es {
			out[i] = vfs.Listed{Path: e.Path, URL: e.URL}
		}
		return out, nil
	}
}

// pageTimeout bounds one index page when the caller gives no client.
const pageTimeout = 60 * time.Second

// indexDepth is a depth in index.Options' terms, where 0 is its default
// and a negative depth reads the folder's own page only.
func indexDepth(depth int) int {
	if depth == 0 {
		return -1
	}
	return depth
}

// headerDoer sends a folder's request headers with its index pages.
type headerDoer struct {
	c *http.Client
	h http.Header
}

func (d headerDoer) Do(req *http.Request) (*http.Response, error) {
	for k, vs := range d.h {
		req.Header[k] = vs
	}
	return d.c.Do(req)
}
