package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
)

// origin is the protocol side of fetching: where a store's bytes come from.
// The store decides what to fetch and when (schedule.go, worker.go) and
// copies what an origin's body delivers; httpOrigin speaks HTTP to the real
// one (request.go, validate.go, errors.go, splice*.go), and tests give a
// fake one to drive scheduling and fetching without a network.
type origin interface {
	// open asks for the bytes q names (plain: a Range without If-Range)
	// and returns their body once accepted: the same version, the range
	// asked for. Its errors are verdicts the retry loop acts on
	// (ErrChanged, errNoRange, errReresolve, ErrNoAnswer, a *StatusError).
	// ctx is the attempt's, under the stall watchdog; parent the fetch's,
	// which tells a watchdog's verdict from the fetch being cancelled.
	open(parent, ctx context.Context, q ask, plain bool) (*body, error)
}

// body is one accepted answer.
type body struct {
	r     io.ReadCloser
	end   int64    // where the announced bytes end
	sp    splicer  // the connection, when it can splice r into the file; nil otherwise
	conn  net.Conn // the TCP (or TLS) connection r arrives on; nil if unknown
	proto string   // "http/1.1", "h2", ...; "" if unknown
}

// httpOrigin fetches a staged source over HTTP.
type httpOrigin struct {
	m   *Manager
	src *Source // the store's; never changes
	rem *Remote // the store's; never changes

	mu  sync.Mutex // guards url
	url string     // where requests go: the last redirect target seen
}

func newHTTPOrigin(m *Manager, src *Source, rem *Remote) *httpOrigin {
	o := &httpOrigin{m: m, src: src, rem: rem, url: src.URL}
	if rem.URL != "" {
		o.url = rem.URL // fetched directly, without the redirects again
	}
	return o
}

func (o *httpOrigin) target() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.url
}

func (o *httpOrigin) retarget(u string) {
	o.mu.Lock()
	o.url = u
	o.mu.Unlock()
}

func (o *httpOrigin) open(parent, ctx context.Context, q ask, plain bool) (*body, error) {
	u := o.target()
	var conn net.Conn // the connection of the last hop, for splicing
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conn = i.Conn }}
	resp, err := o.m.send(httptrace.WithClientTrace(ctx, trace), http.MethodGet, u, o.src.URL, o.src.Header, func(h http.Header) {
		if !q.ranged {
			return
		}
		h.Set("Range", fmt.Sprintf("bytes=%d-%d", q.start, q.end-1))
		if v := ifRange(o.rem); v != "" && !plain {
			h.Set("If-Range", v)
		}
	})
	if err != nil {
		return nil, requestError(parent, ctx, err)
	}
	end, err := o.judge(u, q, resp)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	b := &body{r: resp.Body, end: end, conn: conn, proto: protocolOf(resp)}
	if q.ranged && resp.ContentLength >= 0 && len(resp.TransferEncoding) == 0 && !resp.Uncompressed {
		// The body's bytes are the connection's bytes (see splice.go).
		b.sp, _ = conn.(splicer)
	}
	return b, nil
}

// judge records where the request to u ended up and judges the response;
// on success it returns where the announced bytes end.
func (o *httpOrigin) judge(u string, q ask, resp *http.Response) (int64, error) {
	if final := resp.Request.URL.String(); final != u {
		o.retarget(final)
	}
	v, end, err := judge(o.rem, q, answerOf(resp))
	if v == accept {
		return end, nil
	}
	var se *StatusError
	if errors.As(err, &se) && u != o.src.URL && se.refused() {
		// Signed redirect targets expire (minutes, for many CDNs); the
		// staged URL still leads to a fresh one.
		o.retarget(o.src.URL)
		return 0, fmt.Errorf("%w: %w", errReresolve, err)
	}
	return 0, err
}

// protocolOf names resp's protocol as ALPN does: "http/1.1", "h2".
func protocolOf(resp *http.Response) string {
	switch {
	case resp.ProtoMajor == 2:
		return "h2"
	case resp.ProtoMajor == 3:
		return "h3"
	}
	return fmt.Sprintf("http/%d.%d", resp.ProtoMajor, resp.ProtoMinor)
}
