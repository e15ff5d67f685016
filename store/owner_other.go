//go:build !unix && !windows

package store

import (
	"os"
	"strconv"
)

// lockOwner writes this process's id into the owner lock; without file
// locks there is nothing to tell a live owner from a dead one, so a second
// start is not refused here.
func lockOwner(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
