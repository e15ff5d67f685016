package main

import (
	"io/fs"
	"os"
)

// oNoFollow: Windows has no O_NOFOLLOW. Creating with O_EXCL still fails
// on any existing name, a link included, and readers Lstat first.
const oNoFollow = 0

// ownFile: the user's cache folder is private to the user on Windows (its
// ACL), which is what the checks on Unix establish.
func ownFile(fs.FileInfo) error { return nil }

func privateDir(fs.FileInfo) error { return nil }

// processAlive reports whether a process pid exists.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
