package fsmtest

import (
	"bufio"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// PythonHTTPServer starts Python's real `python3 -m http.server` on a
// loopback port over dir and returns its base URL (no trailing slash). It is
// stopped at cleanup; its log is shown when the test failed.
func PythonHTTPServer(t testing.TB, dir string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	Require(t, "python3", err)
	ctx, cancel := context.WithCancel(context.Background())
	// -u: the "Serving HTTP on" line must reach the pipe now, not at exit.
	cmd := exec.CommandContext(ctx, py, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, "0")
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder // read only after Wait
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		Require(t, "python3 -m http.server", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("http.server log:\n%s", stderr.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`Serving HTTP on \S+ port (\d+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- "http://127.0.0.1:" + m[1]
				break
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("http.server exited without serving") // its log follows at cleanup
		}
		return a
	case <-time.After(30 * time.Second): // turns a hang into a failure, orders nothing
		t.Fatal("http.server did not say where it serves")
		return ""
	}
}
