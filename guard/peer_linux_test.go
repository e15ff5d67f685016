package guard

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPeerUID: the owner of a real loopback connection's client socket is
// found, over IPv4, IPv6 and a dual-stack listener reached over IPv4.
func TestPeerUID(t *testing.T) {
	for _, c := range []struct{ name, listen, dial string }{
		{"ipv4", "127.0.0.1:0", "127.0.0.1"},
		{"ipv6", "[::1]:0", "::1"},
		{"dual-stack listener, ipv4 client", "[::]:0", "127.0.0.1"},
		{"other 127/8 address", "0.0.0.0:0", "127.0.0.2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", c.listen)
			if err != nil {
				t.Skipf("listen %s: %v", c.listen, err)
			}
			defer ln.Close()
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			cc, err := net.Dial("tcp", net.JoinHostPort(c.dial, port))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			sc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			local := netip.MustParseAddrPort(sc.LocalAddr().String())
			remote := netip.MustParseAddrPort(sc.RemoteAddr().String())
			uid, err := peerUID(local, remote)
			if err != nil {
				t.Fatalf("peerUID(%s, %s): %v", local, remote, err)
			}
			if want := uint32(os.Getuid()); uid != want {
				t.Errorf("peerUID = %d, want %d", uid, want)
			}
			// Both ways give the same answer.
			if uid, err := diagPeerUID(local, remote); err != nil || uid != uint32(os.Getuid()) {
				t.Errorf("sock_diag: %d, %v", uid, err)
			}
			if uid, err := procPeerUID(local, remote); err != nil || uid != uint32(os.Getuid()) {
				t.Errorf("/proc/net/tcp: %d, %v", uid, err)
			}
		})
	}
	// A four-tuple no socket has is not found rather than guessed.
	_, err := peerUID(netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"))
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("peerUID of no socket: %v, want ENOENT", err)
	}
}
