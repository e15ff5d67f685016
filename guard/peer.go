package guard

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
)

// errPeerUnsupported is what peerUID returns where the owner of a peer
// socket cannot be looked up (every OS but Linux).
var errPeerUnsupported = errors.New("looking up the owner of a connection is not supported on this OS")

// peerResult is the owner of a connection's peer socket, or why it is not
// known.
type peerResult struct {
	uid uint32
	err error
}

// Owner refuses with 403 every request on a connection whose peer socket
// belongs to another user than fsm's (root excepted): loopback is not a
// user boundary, and without it any local user could read the file list,
// staged files and the page (which holds the API token). Each connection
// is looked up once, at its first request; a refused connection is closed
// after the answer. Each refused uid is logged once.
//
// Where the owner cannot be looked up (every OS but Linux), Owner logs
// once, when it is built, that other local users can reach fsm, and
// passes every request on.
func Owner(next http.Handler, log *slog.Logger) http.Handler {
	return owner(next, log, uint32(os.Getuid()), peerUID)
}

// owner is Owner with the server's uid and the lookup given.
func owner(next http.Handler, log *slog.Logger, self uint32, lookup func(local, remote netip.AddrPort) (uint32, error)) http.Handler {
	if _, err := lookup(netip.AddrPort{}, netip.AddrPort{}); errors.Is(err, errPeerUnsupported) {
		log.Warn("other local users can reach fsm on this OS (its connections' owners cannot be checked); start it with --user and --password-file to keep them out")
		return next
	}
	o := &ownerGuard{next: next, log: log, self: self, lookup: lookup, logged: make(map[uint32]bool)}
	return o
}

type ownerGuard struct {
	next   http.Handler
	log    *slog.Logger
	self   uint32
	lookup func(local, remote netip.AddrPort) (uint32, error)

	mu        sync.Mutex      // guards logged and loggedErr
	logged    map[uint32]bool // uids refused and logged; few on any machine
	loggedErr bool            // a failed lookup was logged
}

func (o *ownerGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := stateOf(r.Context())
	st.peerOnce.Do(func() { st.peer = o.peerOf(r) })
	switch p := st.peer; {
	case p.err != nil:
		o.logErr(p.err)
		w.Header().Set("Connection", "close")
		deny(w, http.StatusForbidden, "fsm: cannot tell which user this connection is from, so it is refused\n")
	case p.uid != o.self && p.uid != 0:
		o.logUID(p.uid)
		w.Header().Set("Connection", "close")
		deny(w, http.StatusForbidden, "fsm: this server belongs to another user\n")
	default:
		o.next.ServeHTTP(w, r)
	}
}

// peerOf looks up the owner of the request's peer socket.
func (o *ownerGuard) peerOf(r *http.Request) peerResult {
	remote, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return peerResult{err: fmt.Errorf("client address %q: %w", r.RemoteAddr, err)}
	}
	la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if la == nil {
		return peerResult{err: fmt.Errorf("connection from %s: no local address", remote)}
	}
	local, err := netip.ParseAddrPort(la.String())
	if err != nil {
		return peerResult{err: fmt.Errorf("local address %q: %w", la, err)}
	}
	uid, err := o.lookup(local, remote)
	if err != nil {
		return peerResult{err: fmt.Errorf("owner of the connection from %s: %w", remote, err)}
	}
	return peerResult{uid: uid}
}

func (o *ownerGuard) logUID(uid uint32) {
	o.mu.Lock()
	first := !o.logged[uid]
	o.logged[uid] = true
	o.mu.Unlock()
	if first {
		o.log.Warn("refusing connections from another local user", "uid", uid)
	}
}

func (o *ownerGuard) logErr(err error) {
	o.mu.Lock()
	first := !o.loggedErr
	o.loggedErr = true
	o.mu.Unlock()
	if first {
		o.log.Error("refusing connections whose user cannot be looked up", "err", err)
	}
}
