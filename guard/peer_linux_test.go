package guard

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPeerUID: the owner of a real loopback connection's client socket is
// found, over IPv4, IPv6, a dual-stack listener reached over IPv4 and
// another 127/8 address.
func TestPeerUID(t *testing.T) {
	for _, c := range slices.Concat(loopbackCases, []loopbackCase{{"other 127/8 address", "0.0.0.0:0", "127.0.0.2"}}) {
		t.Run(c.name, func(t *testing.T) {
			ln, _ := dialLoopback(t, c)
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
