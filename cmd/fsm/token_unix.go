//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// oNoFollow makes an open fail on a symbolic link instead of following it.
const oNoFollow = syscall.O_NOFOLLOW

// ownFile checks that fi is owned by this user.
func ownFile(fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("its owner cannot be read")
	}
	if uid := int(st.Uid); uid != os.Geteuid() {
		return fmt.Errorf("owned by uid %d, not by you (uid %d)", uid, os.Geteuid())
	}
	return nil
}

// privateDir checks that the folder fi is this user's and that no one else
// may write to it.
func privateDir(fi fs.FileInfo) error {
	if err := ownFile(fi); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("others may write to it (mode %04o); chmod 700 it", perm)
	}
	return nil
}

// processAlive reports whether a process pid exists (whoever owns it).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
