package main

// fsm ls on a real (pseudo-)terminal: fitted to its width, redrawn when
// it is resized.

import (
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"fsm/internal/fsmtest"
	"fsm/internal/termui"
	"fsm/internal/testorigin"
)

// longName is a name too long for 80 columns next to the other columns.
const longName = "films/a long name of a holiday film in June 2026, part one.mp4"

// lastFrame is the frame a watch drew last: what follows its final
// erase (ESC[J), as lines.
func lastFrame(out string) []string {
	if i := strings.LastIndex(out, "\x1b[J"); i >= 0 {
		out = out[i+len("\x1b[J"):]
	}
	return strings.Split(strings.TrimRight(strings.ReplaceAll(out, "\r\n", "\n"), "\n"), "\n")
}

// fitsWidth reports whether no line is wider than width columns.
func fitsWidth(lines []string, width int) bool {
	for _, l := range lines {
		if termui.Width(l) > width {
			return false
		}
	}
	return true
}

// ptyRun runs fsm ls on a terminal cols columns wide and returns what it
// printed.
func ptyRun(t *testing.T, e *cliEnv, addr string, cols uint16) string {
	t.Helper()
	c := e.cmd([]string{"FSM_ADDR=" + addr}, "ls")
	tty, err := pty.StartWithSize(c, &pty.Winsize{Rows: 40, Cols: cols})
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer tty.Close()
	var out fsmtest.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&out, tty); close(copied) }() // ends with EIO once ls exits
	if err := c.Wait(); err != nil {
		t.Fatalf("ls on a terminal: %v\n%s", err, out.String())
	}
	select {
	case <-copied:
	case <-time.After(30 * time.Second):
		t.Fatal("the terminal's output did not end after ls exited")
	}
	return strings.ReplaceAll(out.String(), "\r\n", "\n")
}

func TestLsTerminalWidths(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 33, Size: 5000}, Name: "/f.bin"})
	e := newCLIEnv(t)
	_, addr := serveIn(t, e)
	if r := e.fsm(t, addr, nil, "stage", o.URL(), "--name", longName); r.code != 0 {
		t.Fatalf("stage:\n%s", r)
	}
	for _, c := range []struct {
		cols     uint16
		wholeRow bool // the name whole in its row
	}{{80, false}, {200, true}} {
		out := ptyRun(t, e, addr, c.cols)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if !fitsWidth(lines, int(c.cols)-1) {
			t.Errorf("at %d columns a line is too wide:\n%s", c.cols, out)
		}
		if len(lines) < 3 || lines[0] != "1 file · 0 B of 5.0 kB" || !strings.HasPrefix(lines[1], "NAME ") {
			t.Fatalf("at %d columns want the totals, then the heading:\n%s", c.cols, out)
		}
		if got := strings.HasPrefix(lines[2], longName+" "); got != c.wholeRow {
			t.Errorf("at %d columns the whole name in its row: %v, want %v:\n%s", c.cols, got, c.wholeRow, out)
		}
		if !c.wholeRow && (!strings.HasPrefix(lines[2], "films/a long") || !strings.Contains(lines[2], "…")) {
			t.Errorf("at %d columns the name is not cut in the middle:\n%s", c.cols, out)
		}
		if !strings.Contains(out, "no local path: start fsm serve with --fuse DIR or --mount,") {
			t.Errorf("at %d columns no hint on getting a local path:\n%s", c.cols, out)
		}
	}
}

// ls --watch redraws at once when the terminal is resized, fitted to the
// new width; nothing else changes meanwhile, so only the resize can cause
// the new frame.
func TestLsWatchResize(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 34, Size: 5000}, Name: "/f.bin"})
	e := newCLIEnv(t)
	_, addr := serveIn(t, e)
	if r := e.fsm(t, addr, nil, "stage", o.URL(), "--name", longName); r.code != 0 {
		t.Fatalf("stage:\n%s", r)
	}
	w := e.cmd([]string{"FSM_ADDR=" + addr}, "ls", "--watch")
	tty, err := pty.StartWithSize(w, &pty.Winsize{Rows: 30, Cols: 200})
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer tty.Close()
	t.Cleanup(func() { w.Process.Kill(); w.Wait() })
	var out fsmtest.Buffer
	go io.Copy(&out, tty)
	complete := func(frame []string) bool {
		return len(frame) > 0 && strings.HasPrefix(frame[len(frame)-1], "or mount http://")
	}
	fsmtest.Eventually(t, "a frame at 200 columns with the whole name", func() bool {
		f := lastFrame(out.String())
		return complete(f) && len(f) > 4 && strings.HasPrefix(f[4], longName+" ")
	})
	if err := pty.Setsize(tty, &pty.Winsize{Rows: 30, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	fsmtest.Eventually(t, "a frame redrawn for 80 columns", func() bool {
		f := lastFrame(out.String())
		return complete(f) && len(f) > 4 && strings.HasPrefix(f[4], "films/a long") && strings.Contains(f[4], "…")
	})
	if f := lastFrame(out.String()); !fitsWidth(f, 79) {
		t.Errorf("the frame after the resize does not fit 80 columns:\n%s", strings.Join(f, "\n"))
	}
	w.Process.Signal(syscall.SIGINT)
	if err := w.Wait(); err != nil {
		t.Fatalf("watch after SIGINT: %v", err)
	}
}
