//go:build linux

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
)

// fuseRead times a cold `dd bs=1M` of f through fsm's FUSE mount and through
// rclone mount, each on a fresh origin and cache; results go under
// key.fsm and key.rclone.
func (h *harness) fuseRead(ctx context.Context, key string, f benchFile) error {
	if why := h.fuseSkipReason(); why != "" {
		h.log.Warn("FUSE scenario skipped", "why", why)
		h.skip(key+".fsm", why)
		h.skip(key+".rclone", why)
		return nil
	}
	err := h.withOrigin(f.content, f.rate, func(o *origin) error {
		return h.catVia(ctx, key+".fsm", f, func(dir string) (*server, error) {
			return h.startFSM(ctx, h.cfg.fuseBin, o.fileURL(), dir, f.size())
		})
	})
	if h.cfg.rclone == "" {
		h.skip(key+".rclone", "rclone not installed")
		return err
	}
	return errors.Join(err, h.withOrigin(f.content, f.rate, func(o *origin) error {
		return h.catVia(ctx, key+".rclone", f, func(dir string) (*server, error) {
			return h.startRcloneMount(ctx, o.base, dir, f.size())
		})
	}))
}

func (h *harness) catVia(ctx context.Context, key string, f benchFile, mount func(dir string) (*server, error)) error {
	dir, err := h.mkdir("mnt")
	if err != nil {
		return err
	}
	s, err := mount(dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.transferTimeout())
	defer cancel()
	var sum sumWriter
	c0 := sampleCPU()
	t, err := ddFile(ctx, filepath.Join(dir, fileName), &sum)
	busy := busySince(c0)
	if err == nil {
		err = sum.check(f.size(), f.crc)
	}
	if err == nil {
		err = h.recordCPU(key, s, f.size())
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

// gvfsRead times a cold `dd bs=1M` of f through a gvfs mount of fsm's
// WebDAV (key gvfs.fsm): the local path of a desktop without fsm's FUSE.
func (h *harness) gvfsRead(ctx context.Context) error {
	f := h.big
	return h.withOrigin(f.content, f.rate, func(o *origin) error {
		path, teardown, err := h.gvfsPath(ctx, o)
		if errors.Is(err, errSkip) {
			h.skip("gvfs.fsm", err.Error())
			return nil
		}
		if err != nil {
			return err
		}
		tctx, cancel := context.WithTimeout(ctx, f.transferTimeout())
		defer cancel()
		var sum sumWriter
		c0 := sampleCPU()
		t, err := ddFile(tctx, path, &sum)
		busy := busySince(c0)
		if err == nil {
			err = sum.check(f.size(), f.crc)
		}
		if err = errors.Join(err, teardown()); err != nil {
			return err
		}
		h.recordTransfer("gvfs.fsm", t, busy)
		return nil
	})
}
