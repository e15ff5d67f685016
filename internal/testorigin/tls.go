package testorigin

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Protocols is what a TLS origin speaks, as ALPN offers it.
type Protocols int

const (
	// H1AndH2 offers h2 and serves HTTP/1.1 to clients that do not ask
	// for it, as CDNs do.
	H1AndH2 Protocols = iota
	// H1Only never negotiates h2, as S3 does.
	H1Only
	// H2Only speaks only HTTP/2, also to a client that does not offer it.
	H2Only
)

func (p Protocols) String() string {
	switch p {
	case H1AndH2:
		return "h1+h2"
	case H1Only:
		return "h1"
	case H2Only:
		return "h2"
	}
	return "unknown"
}

// TLSOptions configure the TLS side of NewTLS.
type TLSOptions struct {
	Protocols Protocols
	// ConnBytesPerSecond paces each TCP connection below TLS, so that
	// every stream multiplexed on one HTTP/2 connection shares its limit,
	// as a CDN's per-connection limit or a long lossy path does; 0 means
	// unlimited.
	ConnBytesPerSecond int64
	// Wrap, if set, wraps the origin's handler, so that a caller can
	// answer paths the origin does not serve (an index page for clients
	// that list a directory, as rclone's http backend does) over the same
	// TLS listener; requests it passes on are served and logged as ever.
	Wrap func(http.Handler) http.Handler
}

// TLSOrigin is an Origin served over TLS with httptest's certificate
// (Client trusts it; other clients do not), counting the TCP connections
// it accepts.
type TLSOrigin struct {
	*Origin
	ln *countingListener
}

// NewTLS starts an Origin over TLS and closes it when the test ends.
func NewTLS(t testing.TB, opts Options, topts TLSOptions) *TLSOrigin {
	t.Helper()
	o := NewTLSServer(opts, topts)
	t.Cleanup(o.Close)
	return o
}

// NewTLSServer starts an Origin over TLS without a testing.TB; the caller
// must Close it.
func NewTLSServer(opts Options, topts TLSOptions) *TLSOrigin {
	o := newOrigin(opts)
	var h http.Handler = o
	if topts.Wrap != nil {
		h = topts.Wrap(h)
	}
	srv := httptest.NewUnstartedServer(h)
	ln := &countingListener{Listener: srv.Listener, rate: topts.ConnBytesPerSecond}
	srv.Listener = ln
	switch topts.Protocols {
	case H1AndH2:
		srv.EnableHTTP2 = true
		srv.TLS = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	case H1Only:
		srv.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
	case H2Only:
		// As Go's own server does when told to speak only HTTP/2: a
		// client that does not offer h2 still gets through the
		// handshake, and then HTTP/2 frames it cannot read.
		srv.EnableHTTP2 = true
		srv.TLS = &tls.Config{NextProtos: []string{"h2"}}
		var p http.Protocols
		p.SetHTTP2(true)
		srv.Config.Protocols = &p
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // its complaints about HTTP/1.1 clients
	}
	srv.StartTLS()
	o.Server = srv
	return &TLSOrigin{Origin: o, ln: ln}
}

// Accepted returns how many TCP connections the origin has accepted.
func (o *TLSOrigin) Accepted() int { return int(o.ln.accepted.Load()) }

// countingListener counts accepted connections and, with a rate, paces
// each one's writes on a Link of its own.
type countingListener struct {
	net.Listener
	rate     int64
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	if l.rate <= 0 {
		return c, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &pacedConn{Conn: c, link: NewLink(l.rate), ctx: ctx, cancel: cancel}, nil
}

// pacedConn is one TCP connection whose writes pass its own link. Close
// cancels a write waiting for its slot, so closing the origin never waits
// for the pace.
type pacedConn struct {
	net.Conn
	link   *Link
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

func (c *pacedConn) Write(p []byte) (int, error) {
	done := 0
	for len(p) > 0 {
		n := min(len(p), LinkChunk)
		if err := c.link.Take(c.ctx, n); err != nil {
			return done, net.ErrClosed
		}
		k, err := c.Conn.Write(p[:n])
		done += k
		if err != nil {
			return done, err
		}
		p = p[n:]
	}
	return done, nil
}

func (c *pacedConn) Close() error {
	c.once.Do(c.cancel)
	return c.Conn.Close()
}
