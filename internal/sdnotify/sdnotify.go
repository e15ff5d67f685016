// Package sdnotify tells systemd how fsm is doing, for units of
// Type=notify: READY=1 once fsm serves, STOPPING=1 when it begins to shut
// down. Outside systemd (NOTIFY_SOCKET unset) every call does nothing.
//
// NOTIFY_SOCKET stays in the environment: children (mount helpers) may
// inherit it, but systemd only listens to the main process unless a unit
// says NotifyAccess=all.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// sendTimeout bounds one datagram: the service manager reads its socket
// at once, and a full queue must not hold up fsm's start or stop.
const sendTimeout = 2 * time.Second

// Ready says fsm is serving.
func Ready() error { return Notify("READY=1") }

// Stopping says fsm has begun to shut down.
func Stopping() error { return Notify("STOPPING=1") }

// Notify sends state (newline-separated VAR=value lines, see sd_notify(3))
// to $NOTIFY_SOCKET, a unix datagram socket given as an absolute path or,
// with a leading @, an abstract name. It does nothing when the variable is
// unset or empty.
func Notify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		return fmt.Errorf("sdnotify: NOTIFY_SOCKET %q: %w", addr, errUnsupported)
	}
	// Go's net package turns a leading @ into the abstract namespace's
	// leading NUL byte.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: sending %q: %w", state, err)
	}
	return nil
}

// errUnsupported is for the address forms systemd knows and fsm does not
// need (vsock:, used for virtual machines).
var errUnsupported = errors.New("only an absolute path or an @abstract name is supported")
