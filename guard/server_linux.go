package guard

import (
	"fmt"
	"net/netip"
)

// The same rule as Owner, from the other end: before the CLI sends a
// token, a URL or a header to a server on this machine, it asks the kernel
// whom that server's socket belongs to, with the lookup Owner uses.

// Listening is the socket listening at an address on this machine.
type Listening struct {
	UID   uint32
	Inode uint32 // what /proc/PID/fd/N of the process holding it links to: socket:[Inode]
}

// ServerUID returns the uid owning the server end of a TCP connection this
// process dialled from local to remote; remote's socket must be on this
// machine (else ENOENT). A connection whose handshake the server's kernel
// has not finished reports the listener's uid, which the connection gets
// when accepted (sock_diag itself says 0 for it).
func ServerUID(local, remote netip.AddrPort) (uint32, error) {
	s, err := diagSocket(local, remote)
	if err != nil {
		// /proc/net/tcp lists a pending connection with its listener's uid.
		if uid, perr := procPeerUID(local, remote); perr == nil {
			return uid, nil
		}
		return 0, err
	}
	if s.state == tcpSynRecv {
		l, err := ListenerAt(remote)
		if err != nil {
			return 0, fmt.Errorf("the listener of a connection in its handshake: %w", err)
		}
		return l.UID, nil
	}
	return s.uid, nil
}

// ListenerAt returns the socket listening at addr on this machine (a
// dual-stack one among them for an IPv4 addr).
func ListenerAt(addr netip.AddrPort) (Listening, error) {
	none := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if !addr.Addr().Unmap().Is4() {
		none = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	// No connection has a zero peer, so the kernel's lookup ends at the
	// socket that would accept a connection to addr.
	s, err := diagSocket(none, addr)
	if err != nil {
		return Listening{}, fmt.Errorf("listener at %s: %w", addr, err)
	}
	if s.state != tcpListen {
		return Listening{}, fmt.Errorf("listener at %s: found a socket in TCP state %d instead", addr, s.state)
	}
	return Listening{UID: s.uid, Inode: s.inode}, nil
}
