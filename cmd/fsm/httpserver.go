package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"fsm/control"
	"fsm/guard"
)

// connKey is the context key of a request's net.Conn (ConnContext).
type connKey struct{}

const (
	// maxConns bounds open client connections, so that clients that never
	// finish (or an attack) cannot take every file descriptor: the cache's
	// temp files and origin connections need theirs too.
	maxConns = 512
	// controlConns of maxConns are kept for fsm's page and API, so WebDAV
	// clients holding every other slot cannot lock the owner out.
	controlConns = 32
	// bodyTimeout bounds reading a request body. fsm takes no uploads:
	// bodies are PROPFIND XML and control API JSON, small and quick.
	bodyTimeout = 10 * time.Second
	// idleTimeout bounds a keep-alive connection waiting for its next
	// request: idle connections hold slots of maxConns.
	idleTimeout = 30 * time.Second
)

// newHTTPServer serves h with timeouts on everything a client sends.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler: bodyDeadline(h, bodyTimeout),
		// The guards keep per-connection state (the peer's owner, looked
		// up once, and its failed logins); routes needs the connection.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(guard.ConnContext(ctx, c), connKey{}, c)
		},
		// No WriteTimeout or ReadTimeout: they would cut long streams of
		// large files. Bodies get their own deadline (bodyDeadline).
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// net/http would answer "OPTIONS *" itself, past the Host check
		// and basic auth; the WebDAV handler answers it behind them.
		DisableGeneralOptionsHandler: true,
	}
}

// bodyDeadline sets a read deadline of d on the connection of a request
// that has a body, and clears it once the body has been read: the server's
// background read that watches for a client going away must not hit it
// during a long response. It wraps everything else (authentication
// included), so a body trickled byte by byte is cut even when the answer is
// a 401: the server reads an unread body after the handler to reuse the
// connection.
func bodyDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			// An error means the connection takes no deadlines (a test
			// recorder): there is nothing to bound then.
			if rc.SetReadDeadline(time.Now().Add(d)) == nil {
				r.Body = &deadlineBody{
					ReadCloser: r.Body,
					clear:      func() { rc.SetReadDeadline(time.Time{}) },
					// The server would keep the connection after a timed-
					// out body and parse the rest of it as the next request.
					failed: func() { w.Header().Set("Connection", "close") },
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// deadlineBody calls clear once its body has been read to the end, and
// failed when reading it failed otherwise (the deadline).
type deadlineBody struct {
	io.ReadCloser
	clear, failed func()
	once          sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.once.Do(b.clear)
	case err != nil:
		b.once.Do(b.failed)
	}
	return n, err
}

// routes sends /.fsm/ (the control API and page) to ctl and the rest
// to dav, after cleaning the path itself: http.ServeMux would answer an
// untidy path (//a%20b.bin, /./x, /x/../y) with a redirect whose Location
// it escapes a second time (/a%2520b.bin), which then 404s.
func routes(ctl, dav http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "*" { // OPTIONS *: the server as a whole
			dav.ServeHTTP(w, r)
			return
		}
		if p := cleanPath(r.URL.Path); p != r.URL.Path {
			r2 := *r
			u := *r.URL
			u.Path, u.RawPath = p, ""
			r2.URL = &u
			r = &r2
		}
		if r.URL.Path == strings.TrimSuffix(control.Prefix, "/") || strings.HasPrefix(r.URL.Path, control.Prefix) {
			if r.URL.Path == control.EventsPath && r.Method == http.MethodGet {
				streamApart(w, r)
			}
			ctl.ServeHTTP(w, r)
			return
		}
		if c, ok := r.Context().Value(connKey{}).(*countedConn); ok && c.slot == slotControl {
			// A slot of the reserve: WebDAV waits for a general one.
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			http.Error(w, "fsm: every connection for WebDAV clients is taken; this one is kept for fsm's page and API. Close some clients or try again.", http.StatusServiceUnavailable)
			return
		}
		dav.ServeHTTP(w, r)
	})
}

// cleanPath is path.Clean rooted at /, keeping a trailing slash (WebDAV
// names collections with one).
func cleanPath(p string) string {
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// streamApart takes an events stream's connection out of maxConns: streams
// last as long as a page stays open and have a cap of their own in
// control, so a pile of them must not leave no slot for the owner's API
// and page. The connection closes when the stream ends, as it no longer
// holds a slot to serve more requests in. It runs behind the guards, so
// only a request that passed them leaves the cap.
func streamApart(w http.ResponseWriter, r *http.Request) {
	if c, ok := r.Context().Value(connKey{}).(*countedConn); ok {
		c.detach()
		w.Header().Set("Connection", "close")
	}
}
