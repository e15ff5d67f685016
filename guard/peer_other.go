//go:build !linux

package guard

import "net/netip"

func peerUID(local, remote netip.AddrPort) (uint32, error) {
	return 0, errPeerUnsupported
}
