package store

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the default origin client's transport. Parallel readahead
// is worth something only when its requests travel on different TCP
// connections: an origin or path that limits each connection (CDNs, long
// lossy paths) gives each its own share. HTTP/2 multiplexes every request
// to a host over one connection, so the gain vanishes there. So requests go
// over HTTP/1.1, one TCP connection each, also to origins that offer h2:
// measured against a loopback TLS origin limited per connection, that
// reaches the same gain as plain HTTP for a third less CPU than HTTP/2 with
// one connection per lane. An origin that speaks only HTTP/2 gets lanes:
// HTTP/2 transports of their own, each request on the least busy one, a new
// lane opened while all are busy, so requests (of one file or of several)
// do not share a connection while there are lanes to give.

// originTransport is the HTTP/1.1 transport: idle connections for parallel
// fetches, a bound on the wait for response headers, and connections that
// can splice bodies into the temp file (splice.go).
func originTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	t.ResponseHeaderTimeout = 30 * time.Second
	t.DialContext = spliceDialer(&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second})
	t.ForceAttemptHTTP2 = false
	if t.TLSClientConfig != nil {
		// DefaultTransport, once used, offers h2 in its ALPN list, and
		// Clone copies the list: an origin would then answer in HTTP/2
		// on a connection that speaks only HTTP/1.1.
		t.TLSClientConfig.NextProtos = nil
	}
	var p http.Protocols
	p.SetHTTP1(true)
	t.Protocols = &p
	return t
}

// maxLanes bounds the HTTP/2 connections to one h2-only host.
const maxLanes = 32

// protocolTransport sends over h1, and over HTTP/2 lanes to the hosts that
// refused HTTP/1.1.
type protocolTransport struct {
	h1       *http.Transport
	template *http.Transport // h1 as it was given, cloned for each lane

	mu      sync.Mutex
	h2Hosts map[string]bool // hosts that speak only HTTP/2
	lanes   []*lane         // shared by every h2-only host
}

// lane is one HTTP/2 transport: one connection per host.
type lane struct {
	t    *http.Transport
	busy map[string]int // requests in flight per host; guarded by protocolTransport.mu
}

// newProtocolTransport wraps h1 (HTTP/1.1 only, see originTransport); the
// lanes inherit its dialer and TLS settings.
func newProtocolTransport(h1 *http.Transport) *protocolTransport {
	return &protocolTransport{h1: h1, template: h1.Clone(), h2Hosts: make(map[string]bool)}
}

func (p *protocolTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	host := r.URL.Host
	p.mu.Lock()
	h2 := p.h2Hosts[host]
	p.mu.Unlock()
	if !h2 {
		var noALPN atomic.Bool
		trace := &httptrace.ClientTrace{TLSHandshakeDone: func(cs tls.ConnectionState, err error) {
			noALPN.Store(err == nil && cs.NegotiatedProtocol == "")
		}}
		resp, err := p.h1.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
		if err == nil || r.URL.Scheme != "https" || r.Body != nil || !(refusedALPN(err) || noALPN.Load()) {
			return resp, err
		}
		// The request failed on a connection where the origin did not
		// agree to HTTP/1.1: it may speak only HTTP/2. Try that once;
		// nothing was answered, so sending the request again is safe.
		l := p.pickLane(host)
		resp, err2 := l.t.RoundTrip(r)
		if err2 != nil {
			p.release(l, host)
			return nil, err // the first failure is the one to tell
		}
		p.mu.Lock()
		p.h2Hosts[host] = true
		p.mu.Unlock()
		resp.Body = &laneBody{ReadCloser: resp.Body, done: func() { p.release(l, host) }}
		return resp, nil
	}
	l := p.pickLane(host)
	resp, err := l.t.RoundTrip(r)
	if err != nil {
		p.release(l, host)
		return nil, err
	}
	resp.Body = &laneBody{ReadCloser: resp.Body, done: func() { p.release(l, host) }}
	return resp, nil
}

// pickLane returns an idle lane for host, a new one while there are
// fewer than maxLanes, or else the least busy, and counts the request.
func (p *protocolTransport) pickLane(host string) *lane {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best *lane
	for _, l := range p.lanes {
		if best == nil || l.busy[host] < best.busy[host] {
			best = l
		}
	}
	if (best == nil || best.busy[host] > 0) && len(p.lanes) < maxLanes {
		t := p.template.Clone()
		var pr http.Protocols
		pr.SetHTTP2(true)
		t.Protocols, t.ForceAttemptHTTP2 = &pr, true
		best = &lane{t: t, busy: make(map[string]int)}
		p.lanes = append(p.lanes, best)
	}
	best.busy[host]++
	return best
}

func (p *protocolTransport) release(l *lane, host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.busy[host]--; l.busy[host] <= 0 {
		delete(l.busy, host)
	}
}

// CloseIdleConnections closes the idle connections of every transport.
func (p *protocolTransport) CloseIdleConnections() {
	p.h1.CloseIdleConnections()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lanes {
		l.t.CloseIdleConnections()
	}
}

// laneBody frees its lane once, when closed.
type laneBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *laneBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// refusedALPN reports whether err is a strict origin refusing HTTP/1.1 in
// the TLS handshake (no_application_protocol). A lenient one completes the
// handshake without agreeing on a protocol and then speaks HTTP/2 anyway,
// which RoundTrip tells by the missing agreement.
func refusedALPN(err error) bool {
	var alert tls.AlertError
	return errors.As(err, &alert) && alert == 120
}
