//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a server process (fsm or rclone) with its output in a log file.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // valid after done
	once    sync.Once
}

// startChild starts argv in its own process group, so a terminal's SIGINT
// reaches only us (we then shut children down in order) and so stop can
// signal everything the child spawned. Pdeathsig kills it should we crash.
func startChild(name, logPath string, argv []string) (*child, error) {
	return startChildEnv(name, logPath, nil, argv)
}

// startChildEnv is startChild with env as the whole environment (nil: ours).
func startChildEnv(name, logPath string, env, argv []string) (*child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		f.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM (both fsm and rclone then unmount and delete their
// temp files) and SIGKILLs the process group if it outlives grace. It is
// idempotent and safe to call after the process died.
func (c *child) stop(grace time.Duration) {
	c.once.Do(func() {
		if c.exited() {
			return
		}
		pgid := c.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-c.done
		}
	})
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports (reading sysconf would need cgo).
const clockTicks = 100

// cpu returns the user+system CPU time the running child has used so far.
func (c *child) cpu() (time.Duration, error) {
	user, sys, err := c.cpuTimes()
	return user + sys, err
}

// cpuTimes returns the user and the system CPU time of the running child.
func (c *child) cpuTimes() (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, 0, fmt.Errorf("%s CPU time: %w", c.name, err)
	}
	// Fields after the ")" closing the command name start at field 3
	// (state); utime and stime are fields 14 and 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%s CPU time: short /proc stat line", c.name)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("%s CPU time: %w", c.name, err)
	}
	return time.Duration(utime) * time.Second / clockTicks, time.Duration(stime) * time.Second / clockTicks, nil
}

// logTail returns the last lines of the child's output, for error messages.
func (c *child) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(no output)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// diedError describes a child that exited when it should be serving.
func (c *child) diedError() error {
	return fmt.Errorf("%s exited (%v); last output:\n%s", c.name, c.waitErr, c.logTail(15))
}

// freePort asks the kernel for an unused loopback port. Another process could
// take it before the child binds it; on loopback in a benchmark that race is
// acceptable and shows up as a clear start failure.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url with OPTIONS until the server answers anything below
// 500, the child dies, or the timeout passes.
func waitHTTP(ctx context.Context, c *child, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		if c.exited() {
			return c.diedError()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodOptions, url, nil)
		if err != nil {
			return fmt.Errorf("OPTIONS %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		if werr := sleepCtx(ctx, 50*time.Millisecond); werr != nil {
			return fmt.Errorf("%s did not answer OPTIONS %s within %v (last: %v); last output:\n%s",
				c.name, url, timeout, errors.Join(err, statusErr(resp)), c.logTail(15))
		}
	}
}

func statusErr(resp *http.Response) error {
	if resp == nil {
		return nil
	}
	return fmt.Errorf("status %s", resp.Status)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// cpuSample holds the machine-wide CPU counters of /proc/stat, in ticks.
type cpuSample struct{ busy, total uint64 }

func sampleCPU() cpuSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var c cpuSample
	for i, f := range strings.Fields(line)[1:] { // "cpu user nice system idle iowait ..."
		v, _ := strconv.ParseUint(f, 10, 64)
		c.total += v
		if i != 3 && i != 4 { // idle and iowait are not busy
			c.busy += v
		}
	}
	return c
}

// busySince is the fraction of all cores' time spent busy since a: near 1
// means the transfer was CPU-bound on this machine.
func busySince(a cpuSample) float64 {
	b := sampleCPU()
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}
