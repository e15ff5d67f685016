// Package webdav is fsm's WebDAV frontend: a read-only WebDAV server over the
// staged-file tree (vfs) that macOS Finder, Windows Explorer, gvfs, rclone
// and davfs2 can mount.
//
// PROPFIND goes to golang.org/x/net/webdav over a metadata-only view of the
// tree (fs.go), behind layers that fix what that package gets wrong for
// desktop clients (layers.go). GET and HEAD are fsm's own (get.go): headers
// go out only once the first bytes of the requested range are in hand, so
// an origin that fails at once yields a 502 that says why, a read that gets
// no byte for Options.StallTimeout yields a 504 (or an aborted response once
// bytes were sent), and a failure mid-stream aborts the response rather than
// ending a file early.
package webdav

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/net/webdav"

	"fsm/vfs"
)

// Options configure NewHandler.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
	// StallTimeout bounds how long a GET waits with no byte reaching its
	// client: before the first byte it is answered 504 with the reason,
	// after it the response is aborted. Default 50 s, under the minute
	// after which clients give up on their own.
	StallTimeout time.Duration
}

const defaultStallTimeout = 50 * time.Second

// NewHandler returns the read-only WebDAV handler for fsys, served at the
// root of the URL space. Everything under /.fsm is answered 404: the caller
// mounts the control API and page there, in front of this handler.
func NewHandler(fsys *vfs.FS, opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = defaultStallTimeout
	}
	dav := &webdav.Handler{
		FileSystem: &fileSystem{fs: fsys},
		// x/net/webdav refuses to run without a lock system; readOnly
		// answers LOCK and UNLOCK before it is ever consulted.
		LockSystem: webdav.NewMemLS(),
		Logger:     davLogger(log),
	}
	s := &server{fs: fsys, dav: withStatus(noLockEntries(dav)), log: log, stall: opts.StallTimeout}
	return wrap(readOnly(s, log))
}

// server answers GET and HEAD from the tree itself and hands PROPFIND to
// x/net/webdav (readOnly lets nothing else through).
type server struct {
	fs    *vfs.FS
	dav   http.Handler
	log   *slog.Logger
	stall time.Duration
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.dav.ServeHTTP(w, r)
		return
	}
	info, err := s.fs.Stat(vfs.Clean(r.URL.Path))
	if err != nil {
		notFound(w)
		return
	}
	if info.IsDir {
		s.serveDir(w, r, info)
		return
	}
	s.serveFile(w, r, info)
}

// davLogger logs what x/net/webdav reports: a client's mistake (a missing
// name, a bad Depth, malformed XML: any answer below 500) at debug, so one
// misbehaving client cannot fill the log, and server faults as warnings.
func davLogger(log *slog.Logger) func(*http.Request, error) {
	return func(r *http.Request, err error) {
		if err == nil {
			return
		}
		code := 0
		if sw, ok := r.Context().Value(statusKey{}).(*codeWriter); ok {
			code = sw.code
		}
		level := slog.LevelWarn
		if errors.Is(err, fs.ErrNotExist) || (code >= 400 && code < 500) {
			level = slog.LevelDebug
		}
		log.Log(r.Context(), level, "webdav", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
}

// statusKey carries a request's *codeWriter to davLogger, which
// x/net/webdav calls with the request but not the status it answered.
type statusKey struct{}

// codeWriter records the first status written.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (s *codeWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *codeWriter) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// withStatus lets davLogger see the status h answered.
func withStatus(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &codeWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), statusKey{}, sw)))
	})
}

func (s *codeWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
