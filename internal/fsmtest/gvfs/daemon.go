//go:build linux

package gvfs

import (
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// daemon is a long-running process of the session, in its own process
// group so a terminal's signals reach only the caller.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait has returned
	err  error         // cmd.Wait's result; read only after done
}

// startDaemon starts name with the session's environment, its output into
// the session log.
func (s *Session) startDaemon(name string, args ...string) (*daemon, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = s.Env
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	return d, nil
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// daemonGrace is how long a daemon gets to leave after SIGTERM.
const daemonGrace = 5 * time.Second

// stop sends SIGTERM, then SIGKILL after daemonGrace, and waits for the
// exit; it notes a kill in log.
func (d *daemon) stop(log io.Writer) {
	if d.exited() {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(daemonGrace)
	defer t.Stop()
	select {
	case <-d.done:
	case <-t.C:
		fmt.Fprintf(log, "%s (pid %d) ignored SIGTERM; killing it\n", d.name, d.cmd.Process.Pid)
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

func killPid(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
