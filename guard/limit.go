package guard

import (
	"net/netip"
	"sync"
	"time"
)

// Wrong credentials are rate-limited per client address, so a password
// cannot be guessed at network speed: after failLimit failures within
// failWindow, the address gets 429 until that window ends.
const (
	failLimit  = 10
	failWindow = time.Minute
	// maxClients bounds the table: a flood from many addresses evicts
	// windows rather than growing it.
	maxClients = 4096
)

// limiter counts failed logins per client.
type limiter struct {
	now func() time.Time

	mu      sync.Mutex // guards clients
	clients map[netip.Prefix]*window
}

// window is one client's failures since the first in the current window.
type window struct {
	since    time.Time
	failures int
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, clients: make(map[netip.Prefix]*window)}
}

// clientKey is the address a limit applies to: the IPv4 address, or the
// IPv6 /64 (one host usually holds a whole /64). Unparsable addresses (a
// Unix socket) share one key.
func clientKey(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// wait reports how long the client must wait before it may try again; 0
// when it may try now.
func (l *limiter) wait(c netip.Prefix) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.clients[c]
	if w == nil || w.failures < failLimit {
		return 0
	}
	return max(w.since.Add(failWindow).Sub(l.now()), 0)
}

// fail counts a failed login of the client.
func (l *limiter) fail(c netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.clients[c]
	if w == nil {
		if len(l.clients) >= maxClients {
			l.evictLocked(now)
		}
		w = &window{since: now}
		l.clients[c] = w
	}
	if !now.Before(w.since.Add(failWindow)) {
		w.since, w.failures = now, 0
	}
	w.failures++
}

// evictLocked drops every ended window and, if the table is still full,
// an eighth of it at random (map order), so a flood from many addresses
// costs one pass per maxClients/8 new addresses. l.mu must be held.
func (l *limiter) evictLocked(now time.Time) {
	for c, w := range l.clients {
		if !now.Before(w.since.Add(failWindow)) {
			delete(l.clients, c)
		}
	}
	for c := range l.clients {
		if len(l.clients) <= maxClients-maxClients/8 {
			break
		}
		delete(l.clients, c)
	}
}
