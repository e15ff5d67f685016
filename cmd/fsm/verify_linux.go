package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"fsm/guard"
)

// verifyOwner checks that the server end of the connection from local to
// remote is this user's and, when the token file names the fsm that wrote
// it, that this fsm holds the socket listening there.
func (c *apiClient) verifyOwner(local, remote netip.AddrPort) error {
	uid, err := guard.ServerUID(local, remote)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) && !remote.Addr().Unmap().IsLoopback() {
			return nil // a server on another machine: --user and the password guard it
		}
		return &strangerError{fmt.Sprintf("cannot tell whose server answers at %s (%v): fsm sends it nothing", c.addr, err)}
	}
	if self := uint32(os.Geteuid()); uid != self {
		return c.notYours(fmt.Sprintf("it runs as uid %d, you as uid %d", uid, self))
	}
	if c.token.pid == 0 {
		return nil
	}
	l, err := guard.ListenerAt(remote)
	if err != nil {
		return c.notTheWriter(fmt.Sprintf("nothing listens at %s now: %v", remote, err))
	}
	held, err := holdsSocket(c.token.pid, l.Inode)
	if err != nil {
		return nil // /proc hides the process's files: its uid has to do
	}
	if !held {
		return c.notTheWriter(fmt.Sprintf("process %d, which wrote it, does not listen there", c.token.pid))
	}
	return nil
}

// holdsSocket reports whether process pid has the socket inode open.
func holdsSocket(pid int, inode uint32) (bool, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	want := "socket:[" + strconv.FormatUint(uint64(inode), 10) + "]"
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && target == want {
			return true, nil
		}
	}
	return false, nil
}
