package awake

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// logind is the Linux mechanism: an inhibitor lock from systemd-logind (or
// elogind), which lasts exactly as long as the returned descriptor is open
// anywhere. A bus connection is made for each hold and closed at once, so
// nothing at all is held while idle.
type logind struct{}

func newMechanism() mechanism { return logind{} }

const (
	logindName  = "org.freedesktop.login1"
	logindPath  = dbus.ObjectPath("/org/freedesktop/login1")
	inhibitCall = "org.freedesktop.login1.Manager.Inhibit"
)

func (logind) hold(ctx context.Context, why string) (func() error, error) {
	// ConnectSystemBus honours DBUS_SYSTEM_BUS_ADDRESS; WithContext closes
	// the connection (and so ends a stuck handshake) when ctx ends.
	var caught fdCatcher
	conn, err := dbus.ConnectSystemBus(dbus.WithContext(ctx), dbus.WithIncomingInterceptor(caught.intercept))
	if err != nil {
		return nil, fmt.Errorf("system D-Bus: %w", err)
	}
	defer conn.Close()
	var fd dbus.UnixFD
	err = conn.Object(logindName, logindPath).
		CallWithContext(ctx, inhibitCall, 0, "sleep", "fsm", why, "block").
		Store(&fd)
	if err != nil {
		caught.finish(-1)
		var derr dbus.Error
		if !errors.As(err, &derr) {
			return nil, fmt.Errorf("logind Inhibit: %w", err)
		}
		if derr.Name == "org.freedesktop.DBus.Error.ServiceUnknown" {
			return nil, fmt.Errorf("no logind on the system D-Bus: %w", err)
		}
		// A D-Bus error's text is only its message; its name says more
		// (AccessDenied from polkit, say).
		return nil, fmt.Errorf("logind Inhibit: %s: %w", derr.Name, err)
	}
	caught.finish(int(fd))
	// Go receives descriptors close-on-exec already; set it again so no
	// child (a mount helper) can keep the lock alive after we let go.
	unix.CloseOnExec(int(fd))
	lock := os.NewFile(uintptr(fd), "logind inhibitor lock")
	return lock.Close, nil
}
