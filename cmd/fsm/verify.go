package main

import (
	"fmt"
	"net"
	"net/netip"
)

// The CLI sends the token, the URLs it stages and their headers only to
// the fsm that wrote the token file: loopback is shared by every user of
// the machine, and a program of another user's (or a stale port of a
// crashed fsm's) may be listening where fsm was. Each connection is
// checked before anything is sent on it:
//
//   - the pid the token file records is still running (every OS);
//   - on Linux, the server's socket belongs to this user (the kernel says
//     who owns it: guard's lookup, the one the server uses to refuse other
//     users), and that pid holds the socket listening at the address.

// strangerError is a server the CLI will not talk to. Its message is the
// whole line the user sees.
type strangerError struct{ msg string }

func (e *strangerError) Error() string { return e.msg }

// verify checks the server at the other end of conn, as above.
func (c *apiClient) verify(conn net.Conn) error {
	if c.token.pid != 0 && !processAlive(c.token.pid) {
		return c.notTheWriter(fmt.Sprintf("process %d, which wrote it, has exited", c.token.pid))
	}
	local, err1 := netip.ParseAddrPort(conn.LocalAddr().String())
	remote, err2 := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err1 != nil || err2 != nil {
		return nil // not TCP over IP: nothing the kernel can be asked
	}
	return c.verifyOwner(local, remote)
}

// notYours is the refusal of a server that runs as another user.
func (c *apiClient) notYours(why string) error {
	return &strangerError{fmt.Sprintf("the server at %s is not yours (%s): fsm sends it nothing", c.addr, why)}
}

// notTheWriter is the refusal of a server other than the one whose token
// the CLI holds.
func (c *apiClient) notTheWriter(why string) error {
	return &strangerError{fmt.Sprintf("the server at %s is not the fsm that wrote %s (%s): fsm sends it nothing; is fsm still running there?", c.addr, c.token.file, why)}
}
