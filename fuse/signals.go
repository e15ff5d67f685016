//go:build fuse

package fuse

import (
	"errors"
	"os"
	"os/signal"
	"reflect"
	"unsafe"

	cgofuse "github.com/winfsp/cgofuse/fuse"
)

// releaseSignals unregisters the channel cgofuse's Mount hands to
// signal.Notify for SIGINT and SIGTERM. On a signal cgofuse unmounts the
// mount point by path (umount2 with MNT_DETACH as root), racing fsm's own
// orderly shutdown, which then found a second mount to remove: whatever lay
// beneath. It also swallows a second signal until the mount has ended.
// cgofuse offers no option for this, so the unexported channel is reached by
// reflection; a cgofuse release that renames it makes this an error (and the
// test that looks for it fails) rather than a silent change.
func releaseSignals(host *cgofuse.FileSystemHost) error {
	ch, err := cgofuseSignals(host)
	if err != nil || ch == nil {
		return err
	}
	signal.Stop(ch)
	return nil
}

// cgofuseSignals returns cgofuse's signal channel, nil when it has none
// (Windows, or not mounted).
func cgofuseSignals(host *cgofuse.FileSystemHost) (chan os.Signal, error) {
	f := reflect.ValueOf(host).Elem().FieldByName("sigc")
	if !f.IsValid() || f.Type() != reflect.TypeOf((chan os.Signal)(nil)) {
		return nil, errors.New("cgofuse.FileSystemHost has no sigc field of type chan os.Signal")
	}
	return *(*chan os.Signal)(unsafe.Pointer(f.UnsafeAddr())), nil
}
