//go:build !unix

package store

import (
	"errors"
	"os"
	"strconv"
)

// lockOwner opens the owner lock exclusively: Windows refuses to open a file
// another process holds open without sharing, which is enough here.
func lockOwner(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, &HeldError{}
		}
		return nil, err
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
