package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
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
		if c, ok := r.Context().Value(connKey{}).(*countedConn); ok && !c.general(r.Context()) {
			// Waiting on a slot of the reserve for a general one, the
			// client left or fsm stopped.
			w.Header().Set("Connection", "close")
			http.Error(w, "fsm: every connection for WebDAV clients is taken; close some clients or try again.", http.StatusServiceUnavailable)
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

// tlsFlags are fsm serve's TLS flags: with them the one listener speaks
// HTTPS, so that basic auth does not cross a network in clear text.
type tlsFlags struct {
	TLSCert string `name:"tls-cert" env:"FSM_TLS_CERT" type:"path" placeholder:"FILE" help:"Serve HTTPS with this PEM certificate (chain) file; with --tls-key. For listeners other than loopback, so basic auth is not sent in clear text."`
	TLSKey  string `name:"tls-key" env:"FSM_TLS_KEY" type:"path" placeholder:"FILE" help:"The PEM private key of --tls-cert."`
}

// config loads the key pair, or returns nil without the flags.
func (f *tlsFlags) config() (*tls.Config, error) {
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	if f.TLSCert == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(f.TLSCert, f.TLSKey)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.TLSCert, f.TLSKey, pe)
		}
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: not a PEM certificate and its private key: %w", f.TLSCert, f.TLSKey, err)
	}
	// HTTP/1.1 only: WebDAV clients speak it, and the server's
	// connection and body bounds are written for it.
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}, nil
}

// serveTLS wraps ln in TLS when cfg is set and returns the WebDAV root's
// URL. TLS goes outside the connection cap, so the server still sees
// *tls.Conn (requests carry their TLS state) and a handshake counts
// against the cap like any connection. Plain HTTP on a listener other
// than loopback is allowed (a trusted LAN, a TLS proxy in front) but
// warned about: basic auth crosses the network readable.
func serveTLS(ln net.Listener, cfg *tls.Config, log *slog.Logger) (net.Listener, string) {
	addr := ln.Addr().String()
	if cfg == nil {
		if host, _, err := net.SplitHostPort(addr); err == nil && !isLoopback(host) {
			log.Warn("serving plain HTTP on a network address: the basic auth password crosses the network in clear text; give --tls-cert and --tls-key", "addr", addr)
		}
		return ln, "http://" + addr + "/"
	}
	return tls.NewListener(ln, cfg), "https://" + addr + "/"
}

// logRequests logs one line per request at debug level (method, path,
// range, status, bytes sent, duration), as rclone's -vv does; when debug is
// off it returns h itself, so the request path costs nothing more. Paths
// only: queries and headers may carry secrets.
func logRequests(h http.Handler, log *slog.Logger) http.Handler {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http sends 200
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status, "bytes", rec.bytes, "duration", time.Since(start).Round(time.Microsecond)}
		if rg := r.Header.Get("Range"); rg != "" {
			attrs = append(attrs, "range", rg)
		}
		log.Debug("http request", attrs...)
	})
}

// statusRecorder notes the status and the body bytes of a response. It
// unwraps for http.ResponseController (deadlines, flushes of the events
// stream) and flushes itself for handlers that assert http.Flusher.
type statusRecorder struct {
	http.ResponseWriter
	status int   // 0 until the header is written
	bytes  int64 // body bytes written
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Flush() {
	http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

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
