package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
)

// fuseRead times a cold `cat` through fsm's FUSE mount and through rclone
// mount, each on a fresh origin and cache.
func (h *harness) fuseRead(ctx context.Context) error {
	if why := h.fuseSkipReason(); why != "" {
		h.log.Warn("FUSE scenario skipped", "why", why)
		h.skip("fuse.fsm", why)
		h.skip("fuse.rclone", why)
		return nil
	}
	err := h.withOrigin(h.content, 0, func(o *origin) error {
		return h.catVia(ctx, "fuse.fsm", func(dir string) (*server, error) {
			return h.startFSM(ctx, h.cfg.fuseBin, o.fileURL(), dir)
		})
	})
	if h.cfg.rclone == "" {
		h.skip("fuse.rclone", "rclone not installed")
		return err
	}
	return errors.Join(err, h.withOrigin(h.content, 0, func(o *origin) error {
		return h.catVia(ctx, "fuse.rclone", func(dir string) (*server, error) {
			return h.startRcloneMount(ctx, o.base, dir)
		})
	}))
}

func (h *harness) catVia(ctx context.Context, key string, mount func(dir string) (*server, error)) error {
	dir, err := h.mkdir("mnt")
	if err != nil {
		return err
	}
	s, err := mount(dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, h.transferTimeout())
	defer cancel()
	var sum sumWriter
	c0 := sampleCPU()
	t, err := catFile(ctx, filepath.Join(dir, fileName), &sum)
	busy := busySince(c0)
	if err == nil {
		err = sum.check(h.cfg.size, h.wantCRC)
	}
	if err == nil {
		err = h.recordCPU(key, s)
	}
	// Unmount before reporting, so a failure cannot leave the mount behind.
	if serr := s.stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return err
	}
	h.recordTransfer(key, t, busy)
	return nil
}

// fuseSkipReason says why the FUSE part cannot run here, or "".
func (h *harness) fuseSkipReason() string {
	switch {
	case h.cfg.fuseSkip != "":
		return h.cfg.fuseSkip
	case h.cfg.fuseBin == "":
		return "no fsm binary built with -tags fuse,fuse3"
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "no /dev/fuse"
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return "fusermount3 not installed"
	}
	return ""
}
