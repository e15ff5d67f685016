//go:build linux

package main

import (
	"context"
	"fmt"
	"time"
)

// startFSMSources runs `fsm serve` on several sources, optionally with
// --fuse mount, and waits until each name in staged has left its probe and,
// with a mount, until the mount is there.
func (h *harness) startFSMSources(ctx context.Context, bin, mount string, sources, staged []string) (*server, error) {
	s, err := h.launch(ctx, "fsm", func(addr, cache string) []string {
		argv := []string{bin, "serve", "--addr", addr, "--cache-dir", cache}
		if mount != "" {
			argv = append(argv, "--fuse", mount)
		}
		return append(argv, sources...)
	}, mount, -1, true, staged...)
	if err != nil || mount == "" {
		return s, err
	}
	ctx, cancel := context.WithTimeout(ctx, mountTimeout)
	defer cancel()
	for !isMountPoint(mount) {
		if s.exited() {
			return nil, s.diedError()
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return nil, fmt.Errorf("fsm: %s not mounted within %v; last output:\n%s", mount, mountTimeout, s.logTail(15))
		}
	}
	return s, nil
}
