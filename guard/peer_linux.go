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
	// The client's socket may be of either family: a dual-stack server
	// socket sees 127.0.0.1 where the client's own socket is AF_INET, and
	// an AF_INET6 client socket may have dialled a v4-mapped address.
	if !remote.Addr().Unmap().Is4() {
		return sockDiag(unix.AF_INET6, local, remote)
	}
	uid, err := sockDiag(unix.AF_INET, local, remote)
	if errors.Is(err, unix.ENOENT) {
		uid, err = sockDiag(unix.AF_INET6, local, remote)
	}
	return uid, err
}

var diagSeq atomic.Uint32

// Sizes and offsets of struct inet_diag_req_v2 and struct inet_diag_msg
// (linux/inet_diag.h), which x/sys/unix does not define.
const (
	nlmsgHdrLen      = 16
	inetDiagReqLen   = 56 // family, protocol, ext, pad, states, sockid
	inetDiagUIDOff   = 64 // in inet_diag_msg: 4 bytes, 48 of sockid, expires, rqueue, wqueue
	inetDiagMsgLen   = 72
	inetDiagNoCookie = 0xffffffff
)

// sockDiag asks the kernel for the owner of the TCP socket of family whose
// source is remote and destination local.
func sockDiag(family uint8, local, remote netip.AddrPort) (uint32, error) {
	var src, dst [16]byte
	if family == unix.AF_INET {
		l, r := local.Addr().Unmap(), remote.Addr().Unmap()
		if !l.Is4() || !r.Is4() {
			return 0, unix.ENOENT
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
		return 0, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	// A kernel that never answers must not hang the request.
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, fmt.Errorf("sock_diag receive timeout: %w", err)
	}
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag query: %w", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return 0, fmt.Errorf("sock_diag answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return 0, fmt.Errorf("sock_diag answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if code := int32(ne.Uint32(m.Data)); code != 0 {
						return 0, syscall.Errno(-code)
					}
				}
				return 0, errors.New("sock_diag: empty answer")
			case unix.SOCK_DIAG_BY_FAMILY:
				if len(m.Data) < inetDiagMsgLen {
					return 0, fmt.Errorf("sock_diag: answer of %d bytes", len(m.Data))
				}
				return ne.Uint32(m.Data[inetDiagUIDOff:]), nil
			}
		}
	}
}
