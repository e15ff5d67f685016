package guard

import (
	"net"
	"testing"
)

// loopbackCase is one real loopback connection a socket-owner test makes:
// where the listener listens and which address the client dials.
type loopbackCase struct{ name, listen, dial string }

// loopbackCases are the shapes every lookup must handle: IPv4, IPv6 and a
// dual-stack listener reached over IPv4 (a v4-mapped socket on the server).
var loopbackCases = []loopbackCase{
	{"ipv4", "127.0.0.1:0", "127.0.0.1"},
	{"ipv6", "[::1]:0", "::1"},
	{"dual-stack listener, ipv4 client", "[::]:0", "127.0.0.1"},
}

// dialLoopback listens at c.listen and dials it at c.dial, not accepting
// (tests look before and after the server accepts). It skips when the
// machine cannot listen there (no IPv6); both close when the test ends.
func dialLoopback(t *testing.T, c loopbackCase) (net.Listener, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		t.Skipf("listen %s: %v", c.listen, err)
	}
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cc, err := net.Dial("tcp", net.JoinHostPort(c.dial, port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return ln, cc
}
