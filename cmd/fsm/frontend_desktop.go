package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"fsm/control"
	"fsm/desktop"
)

// desktopFrontend is --mount: the desktop's own WebDAV client mounts the
// WebDAV tree. It mounts beside serving; a mount that fails is logged with
// its reason and fsm keeps serving.
type desktopFrontend struct {
	url  string // the WebDAV root to mount
	opts desktop.Options
	log  *slog.Logger
	// mounting is closed when the mount attempt has ended; nil before
	// start. Written by start before anything reads it.
	mounting chan struct{}
	m        atomic.Pointer[desktop.Mounted] // the live mount; nil when none
}

// abortUnmountTimeout bounds the desktop unmount of a second signal's exit.
const abortUnmountTimeout = 2 * time.Second

func (d *desktopFrontend) name() string { return "desktop" }

func (d *desktopFrontend) start(ctx context.Context, fail func(error)) error {
	d.mounting = make(chan struct{})
	go func() {
		defer close(d.mounting)
		m, err := desktop.Mount(ctx, d.url, d.opts)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("--mount failed; WebDAV keeps serving", "err", err)
			}
			return
		}
		d.m.Store(m)
		d.log.Info("the tree is mounted by the desktop's WebDAV client", "path", m.Path())
		fmt.Println(m.Path())
	}()
	return nil
}

func (d *desktopFrontend) mount() (control.Mount, bool) {
	if m := d.m.Load(); m != nil {
		return control.Mount{Kind: control.MountDesktop, Dir: m.Path()}, true
	}
	return control.Mount{}, false
}

// drain unmounts: the desktop's client is a reader of the WebDAV server,
// and gvfs keeps the connection of an abandoned read open until it
// unmounts, which would hold up the server's drain for its whole timeout.
func (d *desktopFrontend) drain(ctx context.Context) error {
	if d.mounting == nil {
		return nil
	}
	<-d.mounting // cancelled with serve's context, bounded by desktop.Mount
	ctx, cancel := context.WithTimeout(ctx, unmountTimeout)
	defer cancel()
	return d.unmount(ctx)
}

// stop: drain has unmounted already; this catches a drain that never ran.
func (d *desktopFrontend) stop(ctx context.Context) error { return d.unmount(ctx) }

func (d *desktopFrontend) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), abortUnmountTimeout)
	defer cancel()
	if err := d.unmount(ctx); err != nil {
		d.log.Warn("exit: the desktop mount was not removed", "err", err)
	}
}

// unmount undoes the mount once, whoever calls first.
func (d *desktopFrontend) unmount(ctx context.Context) error {
	m := d.m.Swap(nil)
	if m == nil {
		return nil
	}
	if err := m.Unmount(ctx); err != nil {
		return fmt.Errorf("the desktop mount %s was not removed: %w", m.Path(), err)
	}
	return nil
}
