package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
)

// limitListener caps open connections at n: Accept waits for a free slot.
// reserved of the n slots are kept for fsm's own page and API: when WebDAV
// clients hold every other slot, a new connection gets a reserved one, on
// which control requests are served at once, so the owner can still see and
// change what is staged; anything else on it waits for a general slot
// (routes calls general). It logs once per burst
// when the general slots are full, not once per connection: again only
// after the count fell to half.
//
// It is our own rather than netutil.LimitListener because that one wraps
// each connection in a type that hides *net.TCPConn's ReadFrom and
// CloseWrite: net/http then copies file bodies through a user buffer
// instead of using sendfile (twice the CPU per byte served), and cannot
// half-close.
func limitListener(ln net.Listener, n, reserved int, log *slog.Logger) net.Listener {
	reserved = min(max(reserved, 0), n-1)
	return &limitedListener{
		Listener: ln,
		slots:    map[slotKind]chan struct{}{slotAny: make(chan struct{}, n-reserved), slotControl: make(chan struct{}, max(reserved, 0))},
		done:     make(chan struct{}),
		log:      log,
	}
}

// slotKind says what a connection's slot may serve.
type slotKind int

const (
	slotAny     slotKind = iota // any request
	slotControl                 // only fsm's page and API (the reserve)
)

type limitedListener struct {
	net.Listener
	slots map[slotKind]chan struct{} // one token per open connection of each kind; cap is its limit; never changed
	done  chan struct{}              // closed by Close, so a waiting Accept returns
	log   *slog.Logger

	closeOnce sync.Once
	mu        sync.Mutex // guards warned
	warned    bool
}

// Accept takes a slot after the connection arrives, not before: a slot
// taken ahead, while Accept waits for a client, would be one that a
// connection of the reserve waiting for a general slot could not get.
func (l *limitedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	kind, err := l.take()
	if err != nil {
		c.Close()
		return nil, err
	}
	return &countedConn{Conn: c, l: l, slot: kind}, nil
}

// take waits for a slot: a general one first, then one of the reserve.
func (l *limitedListener) take() (slotKind, error) {
	anySlot, ctlSlot := l.slots[slotAny], l.slots[slotControl]
	select {
	case anySlot <- struct{}{}:
		return slotAny, nil
	default:
	}
	l.warnFull()
	select {
	case ctlSlot <- struct{}{}:
		return slotControl, nil
	default:
	}
	select {
	case anySlot <- struct{}{}:
		return slotAny, nil
	case ctlSlot <- struct{}{}:
		return slotControl, nil
	case <-l.done:
		return 0, net.ErrClosed
	}
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
		l.log.Warn("connection limit reached: new clients wait until others close; fsm's page and API keep slots of their own",
			"limit", cap(l.slots[slotAny]), "kept_for_page_and_api", cap(l.slots[slotControl]))
	}
}

func (l *limitedListener) release(kind slotKind) {
	ch := l.slots[kind]
	<-ch
	if general := l.slots[slotAny]; len(general) <= cap(general)/2 {
		l.mu.Lock()
		l.warned = false
		l.mu.Unlock()
	}
}

type countedConn struct {
	net.Conn
	l    *limitedListener
	once sync.Once

	mu   sync.Mutex // guards slot
	slot slotKind   // what the connection may serve: set at Accept, raised by general
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.releaseSlot)
	return err
}

// detach gives the connection's slot back while it stays open (an events
// stream, which control caps on its own); Close then releases nothing.
func (c *countedConn) detach() {
	c.once.Do(c.releaseSlot)
}

func (c *countedConn) releaseSlot() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.l.release(c.slot)
}

// general makes sure the connection holds a general slot before it serves
// something other than fsm's page and API: one of the reserve waits for a
// general slot (as a new connection would) and gives its reserved one back.
// It reports false if ctx or the listener ended first.
func (c *countedConn) general(ctx context.Context) bool {
	c.mu.Lock()
	kind := c.slot
	c.mu.Unlock()
	if kind == slotAny {
		return true
	}
	select {
	case c.l.slots[slotAny] <- struct{}{}:
	case <-ctx.Done():
		return false
	case <-c.l.done:
		return false
	}
	c.mu.Lock()
	c.slot = slotAny
	c.mu.Unlock()
	<-c.l.slots[slotControl]
	return true
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
