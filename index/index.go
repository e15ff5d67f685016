package index

import (
	"errors"
	"log/slog"
	"net/http"
)

// Defaults for the zero fields of Options.
const (
	DefaultDepth        = 8
	DefaultMaxEntries   = 10_000
	DefaultMaxPages     = 2_000
	DefaultMaxPageBytes = 8 << 20
	DefaultParallel     = 4
)

// Options bounds a listing. The zero value means the defaults above.
type Options struct {
	// Depth is how many levels of sub-folders are followed below the folder
	// URL: 1 reads the folder's sub-folders but not theirs. Zero means
	// DefaultDepth; a negative depth reads the folder's own page only.
	// Sub-folders beyond it are logged and left out, not an error.
	Depth int
	// MaxEntries is how many files a listing may hold; one more is
	// ErrTooMany. Zero means DefaultMaxEntries.
	MaxEntries int
	// MaxPages is how many index pages a listing may fetch; one more is
	// ErrTooMany. Zero means DefaultMaxPages.
	MaxPages int
	// MaxPageBytes bounds one index page's body; a longer page is
	// ErrTooLarge. Zero means DefaultMaxPageBytes.
	MaxPageBytes int64
	// Parallel is how many sub-folder pages are fetched at once; the Doer
	// must then be safe for concurrent use (an *http.Client is). The
	// listing is the same whatever it is. Zero means DefaultParallel.
	Parallel int
	// Logger receives what a listing leaves out (sub-folders beyond Depth,
	// pages redirected elsewhere). Nil discards it.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Depth == 0 {
		o.Depth = DefaultDepth
	}
	if o.Depth < 0 {
		o.Depth = 0
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxPages <= 0 {
		o.MaxPages = DefaultMaxPages
	}
	if o.MaxPageBytes <= 0 {
		o.MaxPageBytes = DefaultMaxPageBytes
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Entry is one file under the folder.
type Entry struct {
	// Path is the file's path below the folder URL, one percent-decoded
	// element per path segment: "a%2Fb/c%20d" is ["a/b", "c d"]. Elements
	// are never empty, "." or "..", but may hold anything else, "/"
	// included; the caller's name rules decide what it can stage.
	Path []string
	// URL is the absolute URL of the file, as the page linked it (resolved,
	// without its fragment).
	URL string
}

// Doer sends one HTTP request; *http.Client is one. Redirects are the
// Doer's business: List resolves a page's links against the URL its
// response finally came from.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

var _ Doer = (*http.Client)(nil)

// Errors a listing fails with, each inside a *PageError naming the page.
var (
	// ErrNotHTML is a page whose Content-Type is not HTML or XHTML.
	ErrNotHTML = errors.New("not an HTML page")
	// ErrNoLinks is a folder page that links to nothing under the folder.
	ErrNoLinks = errors.New("links to nothing under it")
	// ErrTooMany is a listing beyond MaxEntries files or MaxPages pages.
	ErrTooMany = errors.New("listing too large")
	// ErrTooLarge is a page body beyond MaxPageBytes.
	ErrTooLarge = errors.New("page too large")
)
