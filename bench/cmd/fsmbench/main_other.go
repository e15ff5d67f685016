//go:build !linux

package main

import (
	"fmt"
	"os"
)

// fsmbench relies on process groups, Pdeathsig, /proc and fusermount3.
func main() {
	fmt.Fprintln(os.Stderr, "fsmbench: runs on Linux only (process groups, Pdeathsig, /proc)")
	os.Exit(2)
}
