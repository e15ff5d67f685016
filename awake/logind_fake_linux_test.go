package awake

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"fsm/internal/fsmtest"
)

// busConfig is a bus like the system bus (EXTERNAL authentication on a
// unix socket, so descriptors can be passed) that allows everything, on a
// socket of the test's own. Run unprivileged, the daemon complains that it
// cannot raise its descriptor limit; that is harmless.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// startBus runs a private dbus-daemon and returns its address.
func startBus(t *testing.T) string {
	t.Helper()
	_, err := exec.LookPath("dbus-daemon")
	fsmtest.Require(t, "dbus-daemon", err)
	// A short directory: a unix socket path has at most 107 bytes, and
	// t.TempDir() names grow with the test's name.
	dir, err := os.MkdirTemp("", "awake-bus")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, busConfig, filepath.Join(dir, "bus")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dbus-daemon", "--config-file="+cfg, "--nofork", "--nopidfile", "--print-address=1")
	cmd.Stderr = fsmtest.NewLogSink(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading dbus-daemon's address: %v", err)
	}
	return strings.TrimSpace(addr)
}

// inhibition is one Inhibit call the fake logind answered.
type inhibition struct {
	What, Who, Why, Mode string
	// released is closed when every copy of the lock's descriptor is
	// closed: the fake's end of the socket pair reads EOF.
	released chan struct{}
}

// fakeLogind is org.freedesktop.login1 as far as Inhibit goes. Like the
// real one it hands out one end of a socket pair and learns that the lock
// is gone when the other end is closed everywhere.
type fakeLogind struct {
	t     *testing.T
	conn  *dbus.Conn
	calls chan *inhibition
	// refuse, when set, is the D-Bus error every Inhibit answers with.
	refuse string
}

func startLogind(t *testing.T, addr, refuse string) *fakeLogind {
	t.Helper()
	f := &fakeLogind{t: t, calls: make(chan *inhibition, 16), refuse: refuse}
	// The fake answers Inhibit itself (see Inhibit), so godbus must not
	// send a second, empty reply.
	noAutoReply := func(msg *dbus.Message) {
		if msg.Type == dbus.TypeMethodCall && msg.Headers[dbus.FieldMember].Value() == "Inhibit" {
			msg.Flags |= dbus.FlagNoReplyExpected
		}
	}
	conn, err := dbus.Connect(addr, dbus.WithIncomingInterceptor(noAutoReply))
	if err != nil {
		t.Fatalf("fake logind: connecting to %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	f.conn = conn
	if err := conn.Export(f, logindPath, "org.freedesktop.login1.Manager"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(logindName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("fake logind: owning %s: %v (reply %v)", logindName, err, reply)
	}
	return f
}

// Inhibit is exported on the bus. It sends its reply itself, because the
// fake must close its own copy of the descriptor once the reply is
// written (as logind does), and godbus's automatic reply comes only after
// the method returns.
func (f *fakeLogind) Inhibit(msg dbus.Message, what, who, why, mode string) *dbus.Error {
	reply := &dbus.Message{
		Type: dbus.TypeMethodReply,
		Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldDestination: msg.Headers[dbus.FieldSender],
			dbus.FieldReplySerial: dbus.MakeVariant(msg.Serial()),
		},
	}
	if f.refuse != "" {
		reply.Type = dbus.TypeError
		reply.Headers[dbus.FieldErrorName] = dbus.MakeVariant(f.refuse)
		reply.Body = []any{"refused by the test"}
		reply.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(reply.Body...))
		f.send(reply)
		return nil
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		f.t.Errorf("fake logind: socketpair: %v", err)
		return dbus.MakeFailedError(err)
	}
	ours := os.NewFile(uintptr(fds[0]), "fake logind end")
	in := &inhibition{What: what, Who: who, Why: why, Mode: mode, released: make(chan struct{})}
	go func() {
		defer ours.Close()
		var b [1]byte
		_, _ = ours.Read(b[:]) // EOF once no copy of the other end is open
		close(in.released)
	}()
	reply.Body = []any{dbus.UnixFD(fds[1])}
	reply.Headers[dbus.FieldSignature] = dbus.MakeVariant(dbus.SignatureOf(reply.Body...))
	f.send(reply)
	unix.Close(fds[1]) // the reply is written: the descriptor travels with it
	f.calls <- in
	return nil
}

func (f *fakeLogind) send(reply *dbus.Message) {
	if call := f.conn.Send(reply, nil); call != nil && call.Err != nil {
		f.t.Errorf("fake logind: sending the reply: %v", call.Err)
	}
}

// next waits for the next Inhibit call.
func (f *fakeLogind) next(t *testing.T) *inhibition {
	t.Helper()
	select {
	case in := <-f.calls:
		return in
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for an Inhibit call")
		return nil
	}
}

// waitReleased waits until the lock of in is released and returns when.
func waitReleased(t *testing.T, in *inhibition) time.Time {
	t.Helper()
	select {
	case <-in.released:
		return time.Now()
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for the inhibitor lock to be released")
		return time.Time{}
	}
}

// noMoreCalls fails when the fake has seen an Inhibit call nobody took.
func (f *fakeLogind) noMoreCalls(t *testing.T) {
	t.Helper()
	select {
	case in := <-f.calls:
		t.Errorf("unexpected Inhibit call %+v", *in)
	default:
	}
}
