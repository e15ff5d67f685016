// Package control is fsm's control surface under /.fsm/: the JSON API that
// stages, lists and unstages files at run time (docs/API.md is its
// contract), its server-sent events stream, and the web page.
//
// The Host check and basic auth sit in front of it, as they do in front of
// WebDAV. This package adds what only mutations need: a bearer token and a
// refusal of requests whose Origin names another site, so no page in the
// user's browser can stage or unstage files. It never sends CORS headers.
package control

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"fsm/control/api"
	"fsm/vfs"
)

// Prefix is where the control surface lives; vfs never lets a staged file
// use it.
const Prefix = "/" + vfs.ControlPrefix + "/"

// apiPrefix is the API's base path; it must lie under Prefix (a test
// checks that api.Base does).
const apiPrefix = api.Base

// Options configure a Server.
type Options struct {
	FS        *vfs.FS // required
	Token     string  // required: the bearer token mutations must carry
	Version   string
	WebDAVURL string // where clients connect, e.g. http://127.0.0.1:8080/
	// Mounts returns the local folders where the tree is mounted now (the
	// FUSE mount, the desktop's WebDAV mount), in the order each file's
	// paths list them. Nil: none.
	Mounts func() []Mount
	// Page serves the web page at Prefix, with Prefix stripped. Nil: 404.
	Page   http.Handler
	Logger *slog.Logger
	// StageTimeout bounds how long POST files waits for a probe (60 s).
	StageTimeout time.Duration
	// Tick is how often the events stream samples progress (250 ms); a
	// file's object is sent at most once per tick.
	Tick time.Duration
	// Keepalive is the interval of comment lines on a quiet stream (15 s).
	Keepalive time.Duration
}

// Mount is a local folder where the tree can be opened now: each file's
// local path is under it.
type Mount struct {
	Kind MountKind
	Dir  string
}

// MountKind says which frontend offers a Mount, and so which field of GET
// info names it.
type MountKind int

const (
	MountFUSE    MountKind = iota + 1 // info's fuse_dir
	MountDesktop                      // info's mount_dir: the desktop's WebDAV mount
)

// Server serves the control surface. It is safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger

	closeOnce sync.Once
	done      chan struct{} // closed by Close: ends every events stream
	streams   streamSet     // open events streams, capped
	hub       *eventHub     // the snapshot every events stream sends from
}

// New returns a Server for opts.
func New(opts Options) *Server {
	if opts.FS == nil || opts.Token == "" {
		panic("control.New: FS and Token are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StageTimeout <= 0 {
		opts.StageTimeout = 60 * time.Second
	}
	if opts.Tick <= 0 {
		opts.Tick = 250 * time.Millisecond
	}
	if opts.Keepalive <= 0 {
		opts.Keepalive = 15 * time.Second
	}
	if opts.Mounts == nil {
		opts.Mounts = func() []Mount { return nil }
	}
	s := &Server{opts: opts, log: opts.Logger, done: make(chan struct{})}
	s.hub = newEventHub(opts.Tick, s.sampleTree, opts.Logger)
	return s
}

// Close ends every events stream, so a server shutdown does not wait for
// pages that stay connected. It returns at once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// ServeHTTP answers requests whose path starts with Prefix (and "/.fsm",
// redirected to the page).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == strings.TrimSuffix(Prefix, "/"):
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
	case strings.HasPrefix(p, apiPrefix):
		s.serveAPI(w, r)
	case p == apiPrefix[:len(apiPrefix)-1] || strings.HasPrefix(p, Prefix+"api/"):
		writeError(w, http.StatusNotFound, api.CodeNotFound, "no such API endpoint; the API is under "+apiPrefix)
	case s.opts.Page != nil:
		http.StripPrefix(strings.TrimSuffix(Prefix, "/"), s.opts.Page).ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// stageContext bounds a probe by the request and StageTimeout.
func (s *Server) stageContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.opts.StageTimeout)
}
