package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fsm-cmd-test-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "fsm")
	// The default build: pure Go, no FUSE.
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hermeticEnv is the environment of an fsm a test runs: the caller's
// without its FSM_* variables, with HOME and the cache folder (where serve
// writes its token file) in the test's temp dir, then extra. No test writes
// outside its temp dirs.
func hermeticEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FSM_") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	return append(env, extra...)
}

// run runs fsm to completion and returns its exit code and stderr.
func run(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = hermeticEnv(t, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), out.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("fsm %v did not exit; output:\n%s", args, out.String())
		return 0, ""
	}
}

func TestStartFailures(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	home := t.TempDir()
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		mention  string
	}{
		{"non-loopback needs auth", nil, []string{"serve", "--addr", "0.0.0.0:0"}, 2, "--password-file"},
		{"user without password", nil, []string{"serve", "--addr", "127.0.0.1:0", "--user", "u"}, 2, "--password-file must be used together"},
		{"password without user from env", []string{"FSM_PASSWORD_FILE=" + pw}, []string{"serve", "--addr", "127.0.0.1:0"}, 2, "--password-file must be used together"},
		{"client user without password", nil, []string{"ls", "--user", "u"}, 2, "--password-file must be used together"},
		{"~ in FSM_FUSE", []string{"HOME=" + home, "FSM_FUSE=~/mnt"}, []string{"serve", "--addr", "127.0.0.1:0"}, 2, "--fuse " + filepath.Join(home, "mnt")},
		{"~ in FSM_PASSWORD_FILE", []string{"HOME=" + home, "FSM_USER=u", "FSM_PASSWORD_FILE=~/nopw"}, []string{"serve", "--addr", "127.0.0.1:0"}, 2, filepath.Join(home, "nopw")},
		{"~ in --password-file", []string{"HOME=" + home}, []string{"ls", "--user", "u", "--password-file", "~/nopw"}, 2, filepath.Join(home, "nopw")},
		{"bad size", nil, []string{"serve", "--cache-max-size", "lots"}, 2, "--cache-max-size"},
		{"bad size from env", []string{"FSM_CACHE_MAX_SIZE=lots"}, []string{"serve"}, 2, "--cache-max-size"},
		{"fuse not built", nil, []string{"serve", "--addr", "127.0.0.1:0", "--fuse", t.TempDir()}, 2, "without FUSE"},
		{"bad addr", nil, []string{"serve", "--addr", "nonsense"}, 2, "HOST:PORT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := run(t, tc.env, tc.args...)
			if code != tc.wantCode || !strings.Contains(out, tc.mention) {
				t.Fatalf("exit %d, want %d; output should mention %q:\n%s", code, tc.wantCode, tc.mention, out)
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Fatalf("panic reached the user:\n%s", out)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, out := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "fsm ") {
		t.Fatalf("exit %d: %q", code, out)
	}
}

// server is a running `fsm serve`.
type server struct {
	cmd  *exec.Cmd
	url  string
	done chan error
	log  *logBuffer
}

// logBuffer is the server's stderr, read while the server still writes.
type logBuffer = fsmtest.Buffer

var servingRE = regexp.MustCompile(`webdav=(http://\S+/)`)

func startServe(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = hermeticEnv(t, env...)
	return start(t, cmd)
}

// start starts cmd, an `fsm serve`, and waits until it serves.
func start(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1), log: new(logBuffer)}
	urlCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.log.WriteString(line + "\n")
			if m := servingRE.FindStringSubmatch(line); m != nil {
				urlCh <- m[1]
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case s.url = <-urlCh:
	case err := <-s.done:
		t.Fatalf("fsm exited before serving: %v\n%s", err, s.log)
	case <-time.After(30 * time.Second):
		t.Fatalf("fsm did not start serving:\n%s", s.log)
	}
	return s
}

// stop sends SIGTERM and returns the exit code.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
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
	case <-time.After(30 * time.Second):
		t.Fatalf("fsm did not exit after SIGTERM:\n%s", s.log)
		return -1
	}
}

// waitState waits until the API lists name in state (sources given to
// serve are staged in the background) and returns its object.
func (s *server) waitState(t *testing.T, name, state string) map[string]any {
	t.Helper()
	var obj map[string]any
	fsmtest.Eventually(t, name+" in state "+state, func() bool {
		resp, err := http.Get(s.url + ".fsm/api/v1/files/" + name)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		obj = nil
		json.NewDecoder(resp.Body).Decode(&obj)
		return resp.StatusCode == 200 && obj["state"] == state
	})
	return obj
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// A served file reads byte for byte; SIGTERM exits 0 and leaves no temp
// file, run folder or token behind; leftovers of a crashed run are swept.
func TestServeAndShutdown(t *testing.T) {
	c := testorigin.Content{Seed: 4, Size: 5<<20 + 3}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/dir/video.mp4"})
	cache := t.TempDir()
	stale := filepath.Join(cache, "run-crashed")
	os.MkdirAll(stale, 0o700)
	os.WriteFile(filepath.Join(stale, "x.part"), []byte("old"), 0o600)

	s := startServe(t, []string{"FSM_CACHE_DIR=" + cache, "FSM_PERSIST=false"}, o.URL())
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("leftover run folder not removed: %v", err)
	}
	s.waitState(t, "video.mp4", "idle")
	resp, body := get(t, s.url+"video.mp4")
	if resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
		t.Fatalf("GET: %s, %d bytes; content equal: %v", resp.Status, len(body), bytes.Equal(body, c.Bytes(0, c.Size)))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "video/mp4" {
		t.Errorf("Content-Type %q", ct)
	}
	resp, body = get(t, s.url+"video.mp4", "Range", "bytes=4000000-4000099")
	if resp.StatusCode != 206 || !bytes.Equal(body, c.Bytes(4000000, 100)) {
		t.Fatalf("range GET: %s", resp.Status)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, s.log)
	}
	left, _ := filepath.Glob(filepath.Join(cache, "*"))
	if len(left) != 0 {
		t.Fatalf("left in cache dir after shutdown: %v", left)
	}
}

// A non-loopback listener with credentials demands them everywhere.
func TestBasicAuth(t *testing.T) {
	c := testorigin.Content{Seed: 5, Size: 1000}
	o := testorigin.New(t, testorigin.Options{Content: c})
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	s := startServe(t, nil, "--cache-dir", t.TempDir(), "--user", "me", "--password-file", pw, o.URL())
	fsmtest.Eventually(t, "file.bin staged", func() bool { return o.Count(http.MethodHead) > 0 })
	if resp, _ := get(t, s.url+".fsm/api/v1/files"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API without credentials: %s", resp.Status)
	}
	if resp, _ := get(t, s.url+"file.bin"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no credentials: %s", resp.Status)
	}
	var resp *http.Response
	fsmtest.Eventually(t, "file.bin served", func() bool {
		req, _ := http.NewRequest(http.MethodGet, s.url+"file.bin", nil)
		req.SetBasicAuth("me", "s3cret")
		var err error
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			return false
		}
		return true
	})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
		t.Fatalf("with credentials: %s", resp.Status)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// SIGTERM while a source is still being staged stops fsm cleanly: exit 0,
// nothing left in the cache dir.
func TestSignalWhileStaging(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 6, Size: 100}, FirstByteDelay: time.Minute})
	cache := t.TempDir()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--cache-dir", cache, "--persist=false", o.URL())
	cmd.Env = hermeticEnv(t)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for o.Count(http.MethodHead) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("fsm never probed the origin:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM while staging: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("fsm did not exit after SIGTERM while staging:\n%s", out.String())
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "*")); len(left) != 0 {
		t.Fatalf("left in cache dir: %v", left)
	}
}

// Sources given to serve are staged in the background: the server answers
// at once, a source that fails stays listed as failed with its reason, the
// others are served, and a failed entry goes with unstage.
func TestServeStagesInBackground(t *testing.T) {
	c := testorigin.Content{Seed: 7, Size: 10_000}
	good := testorigin.New(t, testorigin.Options{Content: c, Name: "/good.bin"})
	slow := testorigin.New(t, testorigin.Options{Content: c, Name: "/slow.bin", FirstByteDelay: time.Minute})
	missing := testorigin.New(t, testorigin.Options{Content: c, Name: "/missing.bin", NoHEAD: true, FailCount: 1000, FailStatus: 404})
	s := startServe(t, nil, "--cache-dir", t.TempDir(), slow.URL(), missing.URL(), good.URL())
	if obj := s.waitState(t, "slow.bin", "probing"); obj["size"] != nil {
		t.Errorf("probing entry has a size: %v", obj)
	}
	failed := s.waitState(t, "missing.bin", "failed")
	if msg, _ := failed["error"].(string); !strings.Contains(msg, "404") {
		t.Errorf("failed entry's error %q does not say 404", msg)
	}
	s.waitState(t, "good.bin", "idle")
	if resp, body := get(t, s.url+"good.bin"); resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
		t.Fatalf("GET good.bin while another source is still probing: %s", resp.Status)
	}
	if !strings.Contains(s.log.String(), "missing.bin") {
		t.Errorf("the failure is not logged:\n%s", s.log)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.log)
	}
}

// OPTIONS * passes the Host check and basic auth like every request, and
// then answers as the WebDAV server does.
func TestOptionsStar(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("pw\n"), 0o600)
	s := startServe(t, nil, "--cache-dir", t.TempDir(), "--user", "me", "--password-file", pw)
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/")
	ask := func(hostHeader, auth string) string {
		t.Helper()
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "OPTIONS * HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", hostHeader, auth)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("DAV"))
	}
	basic := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("me:pw")) + "\r\n"
	if got := ask("evil.example", basic); !strings.HasPrefix(got, "403") {
		t.Errorf("OPTIONS * with a foreign Host: %s, want 403", got)
	}
	if got := ask(host, ""); !strings.HasPrefix(got, "401") {
		t.Errorf("OPTIONS * without credentials: %s, want 401", got)
	}
	if got := ask(host, basic); got != "200 1" {
		t.Errorf("OPTIONS * with credentials: %q, want 200 with DAV: 1", got)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
