package main

import (
	"bufio"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"fsm/internal/fsmtest"
)

// pythonHTTPServer starts Python's own `python3 -m http.server` over dir on
// a loopback port and returns its base URL; it is stopped at cleanup.
func pythonHTTPServer(t *testing.T, dir string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	fsmtest.Require(t, "python3", err)
	ctx, cancel := context.WithCancel(context.Background())
	// -u: the "Serving HTTP on" line must reach the pipe now, not at exit.
	cmd := exec.CommandContext(ctx, py, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, "0")
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		fsmtest.Require(t, "python3 -m http.server", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
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
			t.Fatal("http.server exited without serving")
		}
		return a
	case <-time.After(30 * time.Second): // turns a hang into a failure, orders nothing
		t.Fatal("http.server did not say where it serves")
		return ""
	}
}

// A folder served by Python's http.server stages through the real binary:
// nested, spaced and unicode names, each readable over WebDAV.
func TestCLIFolderPythonHTTPServer(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"media/plain.txt":           "plain",
		"media/space name.txt":      "spaced",
		"media/sub/ünïcode ♪.bin":   "unicode",
		"media/sub/deeper/100%.txt": "percent",
	}
	for p, body := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := pythonHTTPServer(t, dir)
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)
	r := e.fsm(t, addr, nil, "stage", "--folder", base+"/media/", "--name", "py")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "staged folder py: 4 files") {
		t.Fatalf("stage --folder:\n%s", r)
	}
	s.waitState(t, "py", "staged")
	for p, body := range files {
		name := "py/" + strings.TrimPrefix(p, "media/")
		elems := strings.Split(name, "/")
		for i, el := range elems {
			elems[i] = url.PathEscape(el)
		}
		resp, got := get(t, s.url+strings.Join(elems, "/"))
		if resp.StatusCode != 200 || string(got) != body {
			t.Errorf("WebDAV GET %s: %s %q, want %q", name, resp.Status, got, body)
		}
	}
}
