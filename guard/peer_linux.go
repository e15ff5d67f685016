package guard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid owning the TCP socket at remote that is connected
// to local, both on this machine: one exact sock_diag query (the kernel
// looks the socket up by its four-tuple; no table is dumped or parsed).
// A remote socket that is not on this machine is not found (ENOENT).
// Where sock_diag fails, /proc/net/tcp{,6} is read instead.
//
// A zero local and remote only report whether lookups are supported.
func peerUID(local, remote netip.AddrPort) (uint32, error) {
	if !local.IsValid() && !remote.IsValid() {
		return 0, nil
	}
	uid, err := diagPeerUID(local, remote)
	if err == nil {
		return uid, nil
	}
	if procUID, perr := procPeerUID(local, remote); perr == nil {
		return procUID, nil
	}
	return 0, err
}

// diagPeerUID is peerUID through sock_diag.
func diagPeerUID(local, remote netip.AddrPort) (uint32, error) {
	s, err := diagSocket(local, remote)
	return s.uid, err
}

// diagSocket finds the TCP socket at remote connected to local (or, with
// a zero local of remote's family, listening at remote) through sock_diag.
func diagSocket(local, remote netip.AddrPort) (diagAnswer, error) {
	// The socket may be of either family: a dual-stack server socket sees
	// 127.0.0.1 where the client's own socket is AF_INET, and an AF_INET6
	// client socket may have dialled a v4-mapped address.
	if !remote.Addr().Unmap().Is4() {
		return sockDiag(unix.AF_INET6, local, remote)
	}
	s, err := sockDiag(unix.AF_INET, local, remote)
	if errors.Is(err, unix.ENOENT) {
		s, err = sockDiag(unix.AF_INET6, local, remote)
	}
	return s, err
}

// diagAnswer is what sock_diag tells of one socket.
type diagAnswer struct {
	uid   uint32
	inode uint32 // 0 while no process holds the socket (not accepted yet)
	state uint8  // TCP state, as in linux/tcp_states.h
}

// TCP states of linux/tcp_states.h that the lookups tell apart.
const (
	tcpSynRecv = 3  // a handshake in progress; sock_diag reports uid 0 for it
	tcpListen  = 10 // a listening socket
)

var diagSeq atomic.Uint32

// Sizes and offsets of struct inet_diag_req_v2 and struct inet_diag_msg
// (linux/inet_diag.h), which x/sys/unix does not define.
const (
	nlmsgHdrLen      = 16
	inetDiagReqLen   = 56 // family, protocol, ext, pad, states, sockid
	inetDiagStateOff = 1  // in inet_diag_msg: after the family
	inetDiagUIDOff   = 64 // in inet_diag_msg: 4 bytes, 48 of sockid, expires, rqueue, wqueue
	inetDiagInodeOff = 68 // in inet_diag_msg: after the uid
	inetDiagMsgLen   = 72
	inetDiagNoCookie = 0xffffffff
)

// sockDiag asks the kernel for the owner of the TCP socket of family whose
// source is remote and destination local.
func sockDiag(family uint8, local, remote netip.AddrPort) (diagAnswer, error) {
	var src, dst [16]byte
	if family == unix.AF_INET {
		l, r := local.Addr().Unmap(), remote.Addr().Unmap()
		if !l.Is4() || !r.Is4() {
			return diagAnswer{}, unix.ENOENT
		}
		l4, r4 := l.As4(), r.As4()
		copy(src[:], r4[:])
		copy(dst[:], l4[:])
	} else {
		src = remote.Addr().As16() // v4 addresses become v4-mapped
		dst = local.Addr().As16()
	}
	seq := diagSeq.Add(1)
	msg := make([]byte, nlmsgHdrLen+inetDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(msg[8:], seq)
	req := msg[nlmsgHdrLen:]
	req[0] = family
	req[1] = unix.IPPROTO_TCP
	ne.PutUint32(req[4:], 0xffffffff) // every TCP state
	id := req[8:]
	binary.BigEndian.PutUint16(id[0:], remote.Port())
	binary.BigEndian.PutUint16(id[2:], local.Port())
	copy(id[4:20], src[:])
	copy(id[20:36], dst[:])
	ne.PutUint32(id[40:], inetDiagNoCookie)
	ne.PutUint32(id[44:], inetDiagNoCookie)

	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return diagAnswer{}, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	// A kernel that never answers must not hang the request.
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return diagAnswer{}, fmt.Errorf("sock_diag receive timeout: %w", err)
	}
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return diagAnswer{}, fmt.Errorf("sock_diag query: %w", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return diagAnswer{}, fmt.Errorf("sock_diag answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return diagAnswer{}, fmt.Errorf("sock_diag answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if code := int32(ne.Uint32(m.Data)); code != 0 {
						return diagAnswer{}, syscall.Errno(-code)
					}
				}
				return diagAnswer{}, errors.New("sock_diag: empty answer")
			case unix.SOCK_DIAG_BY_FAMILY:
				if len(m.Data) < inetDiagMsgLen {
					return diagAnswer{}, fmt.Errorf("sock_diag: answer of %d bytes", len(m.Data))
				}
				return diagAnswer{
					uid:   ne.Uint32(m.Data[inetDiagUIDOff:]),
					inode: ne.Uint32(m.Data[inetDiagInodeOff:]),
					state: m.Data[inetDiagStateOff],
				}, nil
			}
		}
	}
}
