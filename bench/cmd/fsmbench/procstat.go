//go:build linux

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// memStat reads a "VmRSS:  1234 kB" style field of /proc/PID/status, in MiB.
// VmRSS is resident memory now, VmHWM its peak since the process started.
func (c *child) memStat(field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", c.name, field, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", c.name, field, err)
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("%s: no %s in /proc status", c.name, field)
}

// openFDs counts the child's open file descriptors.
func (c *child) openFDs() (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("%s open descriptors: %w", c.name, err)
	}
	return len(ents), nil
}

// recordMem records the server's peak resident memory so far (MiB) under
// key.rss: taken right after one cold transfer, it is the RSS while streaming.
func (h *harness) recordMem(key string, s *server) error {
	hwm, err := s.memStat("VmHWM")
	if err != nil {
		return err
	}
	h.res.add(key+".rss", hwm)
	return nil
}
