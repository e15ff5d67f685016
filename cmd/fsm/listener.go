package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
)

// limitListener caps open connections at n: Accept waits for a free slot.
// It logs once per burst when the cap is reached, not once per connection:
// again only after the count fell to half.
//
// It is our own rather than netutil.LimitListener because that one wraps
// each connection in a type that hides *net.TCPConn's ReadFrom and
// CloseWrite: net/http then copies file bodies through a user buffer
// instead of using sendfile (twice the CPU per byte served), and cannot
// half-close.
func limitListener(ln net.Listener, n int, log *slog.Logger) net.Listener {
	return &limitedListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{}), log: log}
}

type limitedListener struct {
	net.Listener
	slots chan struct{} // one token per open connection; cap is the limit
	done  chan struct{} // closed by Close, so a waiting Accept returns
	log   *slog.Logger

	closeOnce sync.Once
	mu        sync.Mutex // guards warned
	warned    bool
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		l.warnFull()
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &countedConn{Conn: c, l: l}, nil
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *limitedListener) warnFull() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.warned {
		l.warned = true
		l.log.Warn("connection limit reached: new clients wait until others close", "limit", cap(l.slots))
	}
}

func (l *limitedListener) release() {
	<-l.slots
	if len(l.slots) <= cap(l.slots)/2 {
		l.mu.Lock()
		l.warned = false
		l.mu.Unlock()
	}
}

type countedConn struct {
	net.Conn
	l    *limitedListener
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.release)
	return err
}

// detach gives the connection's slot back while it stays open (an events
// stream, which control caps on its own); Close then releases nothing.
func (c *countedConn) detach() {
	c.once.Do(c.l.release)
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) reachable
// through the wrapper; see limitListener.
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite lets net/http half-close before it closes a connection it
// gave up on (an unread body), so the client still reads the answer.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
