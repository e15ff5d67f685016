package guard

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestServerUIDAndListener: from the client's side of real loopback
// connections, the server's socket is found (also before the server has
// accepted it) and the listener's inode is the one this process holds.
func TestServerUIDAndListener(t *testing.T) {
	for _, c := range loopbackCases {
		t.Run(c.name, func(t *testing.T) {
			ln, cc := dialLoopback(t, c)
			local := netip.MustParseAddrPort(cc.LocalAddr().String())
			remote := netip.MustParseAddrPort(cc.RemoteAddr().String())
			want := uint32(os.Getuid())
			if uid, err := ServerUID(local, remote); err != nil || uid != want {
				t.Errorf("ServerUID before accept = %d, %v; want %d", uid, err, want)
			}
			sc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			if uid, err := ServerUID(local, remote); err != nil || uid != want {
				t.Errorf("ServerUID after accept = %d, %v; want %d", uid, err, want)
			}
			l, err := ListenerAt(remote)
			if err != nil || l.UID != want {
				t.Fatalf("ListenerAt(%s) = %+v, %v", remote, l, err)
			}
			if !holds(t, l.Inode, ln) {
				t.Errorf("ListenerAt's inode %d is not the listener's", l.Inode)
			}
		})
	}
	// Nothing listens: not found rather than guessed.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	free := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	if _, err := ListenerAt(free); !errors.Is(err, unix.ENOENT) {
		t.Errorf("ListenerAt(a free port) = %v, want ENOENT", err)
	}
}

// holds reports whether ln's file descriptor is the socket inode.
func holds(t *testing.T, inode uint32, ln net.Listener) bool {
	t.Helper()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino == uint64(inode)
}
