// Package proc finds processes by what /proc says of them, for test and
// benchmark cleanups that must stop exactly what they started.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// WithEnv lists the live processes other than this one whose environment
// holds the entry kv ("NAME=value"). A process that has exited but is not
// yet reaped (a zombie) does not count: it has nothing left to stop.
func WithEnv(kv string) []int {
	want := []byte(kv + "\x00")
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(b, want) {
			continue
		}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}
