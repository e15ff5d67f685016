package main

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

func TestEchoedSignal(t *testing.T) {
	at := time.Now()
	first := received{syscall.SIGINT, at}
	tests := []struct {
		name  string
		later received
		want  bool
	}{
		{"same signal at once", received{syscall.SIGINT, at.Add(time.Millisecond)}, true},
		{"same signal just inside", received{syscall.SIGINT, at.Add(echoWindow - time.Millisecond)}, true},
		{"same signal later", received{syscall.SIGINT, at.Add(echoWindow)}, false},
		{"another signal at once", received{syscall.SIGTERM, at.Add(time.Millisecond)}, false},
	}
	for _, tc := range tests {
		if got := first.echoedBy(tc.later); got != tc.want {
			t.Errorf("%s: echoedBy = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// exitCode waits for s to exit, bounded, and returns its status (-1: killed
// by a signal it did not handle).
func exitCode(t *testing.T, s *server, within time.Duration) int {
	t.Helper()
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("fsm did not exit within %v:\n%s", within, s.log)
		return 0
	}
}

// lastLine is the last line s logged.
func lastLine(s *server) string {
	lines := strings.Split(strings.TrimRight(s.log.String(), "\n"), "\n")
	return lines[len(lines)-1]
}

// `fsm serve 2>&1 | head -1`: once the reader of its output is gone, every
// log line fails with EPIPE; fsm keeps serving, and SIGINT still shuts it
// down cleanly: exit 0, token file and temp files removed.
func TestServeOutlivesItsPipe(t *testing.T) {
	e := newCLIEnv(t)
	addr, cache := freeAddr(t), t.TempDir()
	cmd := e.cmd(nil, "serve", "--addr", addr, "--cache-dir", cache, "--persist=false")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	first, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("no first line: %v", err)
	}
	r.Close() // head -1 has what it wants and exits
	t.Logf("the one line read: %s", first)

	fsmtest.Eventually(t, "the server answering", func() bool {
		resp, err := http.Get("http://" + addr + "/.fsm/api/v1/info")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	// Each of these logs a line into the broken pipe.
	c := testorigin.Content{Seed: 51, Size: 300_000}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/p.bin"})
	if res := e.fsm(t, addr, nil, "stage", o.URL()); res.code != 0 {
		t.Fatalf("stage after the pipe closed:\n%s", res)
	}
	resp, err := http.Get("http://" + addr + "/p.bin")
	if err != nil {
		t.Fatalf("GET after the pipe closed: %v", err)
	}
	if n, _ := io.Copy(io.Discard, resp.Body); resp.StatusCode != 200 || n != c.Size {
		t.Fatalf("GET after the pipe closed: %s, %d bytes", resp.Status, n)
	}
	resp.Body.Close()
	token, err := tokenFileIn(e, addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(token); err != nil {
		t.Fatalf("token file while serving: %v", err)
	}

	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGINT: %v (want exit 0)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("fsm did not exit after SIGINT")
	}
	if _, err := os.Stat(token); !os.IsNotExist(err) {
		t.Errorf("token file left: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "*")); len(left) != 0 {
		t.Errorf("left in the cache dir: %v", left)
	}
}

// tokenFileIn is where a server run in e writes its token for addr.
func tokenFileIn(e *cliEnv, addr string) (string, error) {
	p, err := tokenFile(addr)
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(base, p)
	if err != nil {
		return "", err
	}
	return filepath.Join(e.cache, rel), nil
}

// A terminal's Ctrl-C reaching fsm twice at once is one request: the
// shutdown goes on and ends with status 0 and its summary line. A second
// signal later than the echo window exits at once (130 for SIGINT).
func TestDoubleSignal(t *testing.T) {
	c := testorigin.Content{Seed: 52, Size: 1 << 20}
	tests := []struct {
		name     string
		apart    time.Duration // between the two SIGINTs
		wantCode int
	}{
		{"twice at once is once", 0, 0},
		{"twice, the second later, exits at once", 2 * echoWindow, 130},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testorigin.New(t, testorigin.Options{Content: c, Name: "/held.bin"})
			s := startServe(t, []string{"FSM_CACHE_DIR=" + t.TempDir()}, o.URL())
			s.waitState(t, "held.bin", "idle")
			// A read held by the origin keeps the shutdown draining, so
			// both signals arrive while it runs.
			release := o.Block()
			defer release()
			go func() {
				if resp, err := http.Get(s.url + "held.bin"); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
			fsmtest.Eventually(t, "the read held by the origin", func() bool { return o.Waiting() > 0 })

			sent := time.Now()
			s.cmd.Process.Signal(syscall.SIGINT)
			if tc.apart > 0 {
				fsmtest.Eventually(t, "the shutdown begun", func() bool { return strings.Contains(s.log.String(), "shutting down") })
				// The echo window is a duration by definition: the
				// second signal must come after it.
				time.Sleep(time.Until(sent.Add(tc.apart)))
			}
			s.cmd.Process.Signal(syscall.SIGINT)
			if tc.wantCode != 0 {
				if code := exitCode(t, s, 5*time.Second); code != tc.wantCode {
					t.Fatalf("exit %d, want %d:\n%s", code, tc.wantCode, s.log)
				}
				return
			}
			fsmtest.Eventually(t, "the shutdown begun", func() bool { return strings.Contains(s.log.String(), "shutting down") })
			time.Sleep(time.Until(sent.Add(2 * echoWindow))) // long enough for an exit the echo would have caused
			select {
			case err := <-s.done:
				t.Fatalf("exited on the echo: %v\n%s", err, s.log)
			default:
			}
			release()
			if code := exitCode(t, s, 30*time.Second); code != 0 {
				t.Fatalf("exit %d, want 0:\n%s", code, s.log)
			}
			if l := lastLine(s); !strings.Contains(l, "fsm stopped") || !strings.Contains(l, "removed=") || !strings.Contains(l, "tokens") {
				t.Errorf("last line %q does not say fsm stopped and what it removed", l)
			}
		})
	}
}
