package main

// Tests of fsm stage, ls and unstage: the real binary against a real
// server, as a user runs them.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// cliEnv is an isolated user: its own cache folder (so token files of other
// runs are not seen) and none of the FSM_* variables of the caller.
type cliEnv struct {
	cache string
	vars  []string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	home := t.TempDir()
	e := &cliEnv{cache: filepath.Join(home, "cache")}
	e.vars = []string{"HOME=" + home, "XDG_CACHE_HOME=" + e.cache}
	return e
}

// cmd is an fsm command line in env e; os.Environ's FSM_* variables are
// dropped so the caller's setup cannot leak in.
func (e *cliEnv) cmd(extra []string, args ...string) *exec.Cmd {
	c := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FSM_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			c.Env = append(c.Env, kv)
		}
	}
	c.Env = append(append(c.Env, e.vars...), extra...)
	return c
}

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// fsm runs fsm to completion with FSM_ADDR pointing at addr.
func (e *cliEnv) fsm(t *testing.T, addr string, extra []string, args ...string) result {
	t.Helper()
	c := e.cmd(append([]string{"FSM_ADDR=" + addr}, extra...), args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		r := result{stdout: out.String(), stderr: errb.String()}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return r
	case <-time.After(60 * time.Second):
		c.Process.Kill()
		<-done
		t.Fatalf("fsm %v did not exit; stdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
		return result{}
	}
}

// serveIn starts `fsm serve` as user e and returns its HOST:PORT.
func serveIn(t *testing.T, e *cliEnv, args ...string) (*server, string) {
	t.Helper()
	s := startServe(t, append([]string{"FSM_CACHE_DIR=" + t.TempDir()}, e.vars...), args...)
	return s, strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/")
}

// apiCall calls the server's API directly, to compare the CLI with.
func apiCall(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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
	return resp.StatusCode, b
}

// apiError is the {"error"} message of an API answer.
func apiMessage(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("not an API error: %q", body)
	}
	return e.Error
}

// readToken reads the token file the server wrote for addr.
func readToken(t *testing.T, e *cliEnv, addr string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	b, err := os.ReadFile(filepath.Join(e.cache, "fsm", "tokens", host+"_"+port))
	if err != nil {
		t.Fatalf("token file of %s: %v", addr, err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return first
}

func noEscapes(t *testing.T, what, s string) {
	t.Helper()
	if strings.ContainsRune(s, '\x1b') {
		t.Errorf("%s has escape sequences (not a terminal):\n%q", what, s)
	}
}

func stderrLine(t *testing.T, r result) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "fsm: ") {
		t.Fatalf("want one line 'fsm: reason' on stderr:\n%s", r)
	}
	return lines[0]
}

// Stage, list (JSON and plain) and unstage a file, as a user would.
func TestCLIStageLsUnstage(t *testing.T) {
	c := testorigin.Content{Seed: 11, Size: 3<<20 + 5}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/pub/video.mp4"})
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)

	r := e.fsm(t, addr, nil, "stage", o.URL(), "--name", "films/holiday one.mp4", "--header", "Authorization: Bearer s3cr3t-origin", "--header", "Accept: text/html, */*")
	if r.code != 0 || r.stdout != "staged films/holiday one.mp4 (3.1 MB)\n" {
		t.Fatalf("stage:\n%s", r)
	}
	if h := o.Requests()[0].Header; h.Get("Authorization") != "Bearer s3cr3t-origin" || h.Get("Accept") != "text/html, */*" {
		t.Errorf("origin got Authorization %q, Accept %q", h.Get("Authorization"), h.Get("Accept"))
	}

	r = e.fsm(t, addr, nil, "ls", "--json")
	_, want := apiCall(t, http.MethodGet, s.url+".fsm/api/v1/files", "", nil)
	if r.code != 0 || r.stdout != string(want) {
		t.Fatalf("ls --json is not the API's array %s:\n%s", want, r)
	}
	var files []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &files); err != nil || len(files) != 1 || files[0]["name"] != "films/holiday one.mp4" {
		t.Fatalf("ls --json: %v %v", files, err)
	}
	if strings.Contains(r.stdout, "s3cr3t") {
		t.Errorf("a header value was shown: %s", r.stdout)
	}

	// Read the file through WebDAV so that it is complete when listed.
	resp, body := get(t, s.url+"films/holiday%20one.mp4")
	if resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
		t.Fatalf("GET: %s", resp.Status)
	}
	r = e.fsm(t, addr, nil, "ls")
	noEscapes(t, "ls", r.stdout)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("ls: want a heading and one row:\n%s", r)
	}
	for _, col := range []string{"NAME", "SIZE", "PROGRESS", "%", "RATE", "LEFT", "STATE", "HANDLES", "PATHS"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("heading lacks %s: %q", col, lines[0])
		}
	}
	for _, cell := range []string{"films/holiday one.mp4", "3.1 MB", "[====================]", "100%", "complete"} {
		if !strings.Contains(lines[1], cell) {
			t.Errorf("row lacks %q: %q", cell, lines[1])
		}
	}

	r = e.fsm(t, addr, nil, "unstage", "films/holiday one.mp4")
	if r.code != 0 || r.stdout != "unstaged films/holiday one.mp4\n" {
		t.Fatalf("unstage:\n%s", r)
	}
	r = e.fsm(t, addr, nil, "ls")
	if r.code != 0 || !strings.Contains(r.stdout, "no files staged") {
		t.Fatalf("ls after unstage:\n%s", r)
	}
	r = e.fsm(t, addr, nil, "unstage", "films/holiday one.mp4")
	status, body404 := apiCall(t, http.MethodDelete, s.url+".fsm/api/v1/files/films/holiday%20one.mp4", readToken(t, e, addr), nil)
	if status != http.StatusNotFound {
		t.Fatalf("DELETE of a name not staged: %d %s", status, body404)
	}
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, apiMessage(t, body404)) {
		t.Fatalf("unstage of a name not staged: want exit 1 and %q:\n%s", apiMessage(t, body404), r)
	}
}

// The server's refusals reach the user as one line with exit status 1.
func TestCLIRefusals(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 12, Size: 1000}})
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)
	tok := readToken(t, e, addr)
	if r := e.fsm(t, addr, nil, "stage", o.URL()); r.code != 0 {
		t.Fatalf("stage:\n%s", r)
	}
	tests := []struct {
		name   string
		source string
		status int
		hint   string // what the CLI adds, from the answer's code
	}{
		{"name clash", o.URL(), http.StatusConflict, " (unstage it with fsm unstage, or pass --name NAME)"},
		{"not a URL", "no-such-thing", http.StatusBadRequest, ""},
		{"origin 404", o.Server.URL + "/gone.bin", http.StatusBadGateway, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := apiCall(t, http.MethodPost, s.url+".fsm/api/v1/files", tok, map[string]string{"url": tc.source})
			if status != tc.status {
				t.Fatalf("the API answers %d %s, want %d", status, body, tc.status)
			}
			want := apiMessage(t, body) + tc.hint
			r := e.fsm(t, addr, nil, "stage", tc.source)
			line := stderrLine(t, r)
			if r.code != 1 || (line != "fsm: "+want && line != "fsm: stage "+tc.source+": "+want) || !strings.HasPrefix(line, "fsm: stage "+tc.source+": ") {
				t.Fatalf("want exit 1 and the server's message %q:\n%s", want, r)
			}
		})
	}
	t.Run("no last segment: --name", func(t *testing.T) {
		dir := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 15, Size: 2048}, Name: "/dir/"})
		r := e.fsm(t, addr, nil, "stage", dir.URL())
		if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, "--name") || !strings.HasSuffix(line, "(pass --name NAME)") {
			t.Fatalf("the message should say to give --name:\n%s", r)
		}
		r = e.fsm(t, addr, nil, "stage", dir.URL(), "--name", "named.bin")
		if r.code != 0 || r.stdout != "staged named.bin (2.0 kB)\n" {
			t.Fatalf("with --name:\n%s", r)
		}
	})
	t.Run("several sources, one bad", func(t *testing.T) {
		good := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 16, Size: 10}, Name: "/good.bin"})
		r := e.fsm(t, addr, nil, "stage", good.URL(), o.Server.URL+"/gone.bin")
		errLines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 1 || r.stdout != "staged good.bin (10 B)\n" || len(errLines) != 2 ||
			!strings.HasPrefix(errLines[0], "fsm: stage "+o.Server.URL+"/gone.bin: ") || errLines[1] != "fsm: 1 of 2 sources not staged" {
			t.Fatalf("%s", r)
		}
	})
}

// Usage errors exit 2 before any request.
func TestCLIUsage(t *testing.T) {
	e := newCLIEnv(t)
	addr := freeAddr(t)
	tests := []struct {
		args    []string
		mention string
	}{
		{[]string{"stage", "http://a/x", "http://a/y", "--name", "n"}, "--name"},
		{[]string{"stage", "http://a/x", "--header", "Authorization Bearer secret"}, "--header"},
		{[]string{"stage", "http://a/x", "--header", "A: 1", "--header", "a: 2"}, "twice"},
		{[]string{"ls", "--server", "nonsense"}, "HOST:PORT"},
		{[]string{"ls", "--server", "ftp://h:1"}, "HOST:PORT"},
		{[]string{"ls", "--user", "me"}, "--password-file"},
		{[]string{"unstage", "a.bin", ""}, "names no file"},
	}
	for _, tc := range tests {
		r := e.fsm(t, addr, nil, tc.args...)
		if line := stderrLine(t, r); r.code != 2 || !strings.Contains(line, tc.mention) {
			t.Errorf("fsm %v: want exit 2 mentioning %q:\n%s", tc.args, tc.mention, r)
		}
		if strings.Contains(r.stderr, "secret") {
			t.Errorf("fsm %v echoed a header value:\n%s", tc.args, r)
		}
	}
}

// freeAddr is a loopback address where nothing listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// With no server, each command says so in one line and how to start one.
func TestCLINoServer(t *testing.T) {
	e := newCLIEnv(t)
	addr := freeAddr(t)
	for _, args := range [][]string{{"ls"}, {"ls", "--watch"}, {"stage", "http://a/x"}, {"unstage", "x"}} {
		r := e.fsm(t, addr, nil, args...)
		line := stderrLine(t, r)
		if r.code != 1 || !strings.Contains(line, "no fsm server answers at "+addr) || !strings.Contains(line, "fsm serve") {
			t.Errorf("fsm %v:\n%s", args, r)
		}
	}
	// --server takes a URL too.
	r := e.fsm(t, "", nil, "ls", "--server", "http://"+addr+"/")
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, "no fsm server answers at "+addr) {
		t.Errorf("--server URL:\n%s", r)
	}
}

// A wrong or missing token is refused with the server's message and what
// to do.
func TestCLIToken(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 13, Size: 1000}})
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)
	status, body := apiCall(t, http.MethodPost, s.url+".fsm/api/v1/files", "wrong", map[string]string{"url": o.URL()})
	if status != http.StatusUnauthorized {
		t.Fatalf("wrong token: the API answers %d %s", status, body)
	}
	want := apiMessage(t, body)

	r := e.fsm(t, addr, []string{"FSM_TOKEN=wrong"}, "stage", o.URL())
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, want) {
		t.Fatalf("FSM_TOKEN=wrong: want %q:\n%s", want, r)
	}
	r = e.fsm(t, addr, nil, "unstage", "--token", "wrong", "file.bin")
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, want) {
		t.Fatalf("--token wrong: want %q:\n%s", want, r)
	}
	// Another user (no token file) is told where the token was looked for.
	other := newCLIEnv(t)
	r = other.fsm(t, addr, nil, "stage", o.URL())
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, want) || !strings.Contains(line, filepath.Join(other.cache, "fsm", "tokens")) {
		t.Fatalf("no token file: %s", r)
	}
	// Reads need no token.
	if r := other.fsm(t, addr, nil, "ls", "--json"); r.code != 0 || r.stdout != "[]\n" {
		t.Fatalf("ls without a token:\n%s", r)
	}
	// The right one, given explicitly, works.
	if r := other.fsm(t, addr, []string{"FSM_TOKEN=" + readToken(t, e, addr)}, "stage", o.URL()); r.code != 0 {
		t.Fatalf("FSM_TOKEN right:\n%s", r)
	}
	// The token file is named after the address the server listens on; the
	// CLI finds it when given another loopback name for it.
	_, port, _ := net.SplitHostPort(addr)
	if r := e.fsm(t, "localhost:"+port, nil, "unstage", "file.bin"); r.code != 0 || r.stdout != "unstaged file.bin\n" {
		t.Fatalf("unstage through localhost:\n%s", r)
	}
}

// A server with basic auth asks for it; --user and --password-file give it.
func TestCLIBasicAuth(t *testing.T) {
	e := newCLIEnv(t)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	_, addr := serveIn(t, e, "--user", "me", "--password-file", pw)
	r := e.fsm(t, addr, nil, "ls")
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, "--user") {
		t.Fatalf("no credentials:\n%s", r)
	}
	creds := []string{"FSM_USER=me", "FSM_PASSWORD_FILE=" + pw}
	if r := e.fsm(t, addr, creds, "ls", "--json"); r.code != 0 || r.stdout != "[]\n" {
		t.Fatalf("with credentials:\n%s", r)
	}
	// Changes need both: the password in Authorization, the token beside it.
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 15, Size: 100}, Name: "/auth.bin"})
	if r := e.fsm(t, addr, creds, "stage", o.URL()); r.code != 0 {
		t.Fatalf("stage with basic auth:\n%s", r)
	}
	if r := e.fsm(t, addr, creds, "unstage", "auth.bin"); r.code != 0 {
		t.Fatalf("unstage with basic auth:\n%s", r)
	}
}

// ls --watch prints a line for each change while piped (no escapes), and
// Ctrl-C ends it with status 0.
func TestCLIWatch(t *testing.T) {
	c := testorigin.Content{Seed: 14, Size: 1 << 20}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/w.bin"})
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)

	w := e.cmd([]string{"FSM_ADDR=" + addr}, "ls", "--watch")
	stdout, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	w.Stderr = &stderr
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	waitLine := func(what string, match func(string) bool) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before %s; lines %q; stderr %s", what, seen, stderr.String())
				}
				seen = append(seen, l)
				noEscapes(t, "watch output", l)
				if match(l) {
					return
				}
			case <-timeout:
				t.Fatalf("no line for %s; lines %q", what, seen)
			}
		}
	}

	if r := e.fsm(t, addr, nil, "stage", o.URL()); r.code != 0 {
		t.Fatalf("stage:\n%s", r)
	}
	waitLine("the staged file", func(l string) bool { return strings.HasPrefix(l, "w.bin ") && strings.Contains(l, "1.0 MB") })
	resp, body := get(t, s.url+"w.bin")
	if resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
		t.Fatalf("GET: %s", resp.Status)
	}
	waitLine("the file complete", func(l string) bool {
		return strings.HasPrefix(l, "w.bin ") && strings.Contains(l, "100%") && strings.Contains(l, "complete")
	})
	if r := e.fsm(t, addr, nil, "unstage", "w.bin"); r.code != 0 {
		t.Fatalf("unstage:\n%s", r)
	}
	waitLine("the removal", func(l string) bool { return l == "removed  w.bin" })

	w.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- w.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch after SIGINT: %v; stderr %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("watch did not exit after SIGINT")
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// lineReader collects a command's output lines for waitLine.
type lineReader struct {
	t     *testing.T
	lines chan string
	seen  []string
}

func newLineReader(t *testing.T, r io.Reader) *lineReader {
	lr := &lineReader{t: t, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.lines <- sc.Text()
		}
		close(lr.lines)
	}()
	return lr
}

// waitFor reads lines until one matches; the bound turns a hang into a
// failure.
func (lr *lineReader) waitFor(what string, match func(string) bool) string {
	lr.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lr.lines:
			if !ok {
				lr.t.Fatalf("output ended before %s; lines %q", what, lr.seen)
			}
			lr.seen = append(lr.seen, l)
			if match(l) {
				return l
			}
		case <-timeout:
			lr.t.Fatalf("no line for %s; lines %q", what, lr.seen)
		}
	}
}

// ls --watch --json prints the whole array after each change, one line each.
func TestCLIWatchJSON(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 17, Size: 4096}, Name: "/j.bin"})
	e := newCLIEnv(t)
	_, addr := serveIn(t, e)
	w := e.cmd([]string{"FSM_ADDR=" + addr}, "ls", "--watch", "--json")
	stdout, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Process.Kill() })
	lr := newLineReader(t, stdout)
	if r := e.fsm(t, addr, nil, "stage", o.URL()); r.code != 0 {
		t.Fatalf("stage:\n%s", r)
	}
	l := lr.waitFor("the staged file", func(l string) bool { return strings.Contains(l, `"state":"idle"`) })
	var files []map[string]any
	if err := json.Unmarshal([]byte(l), &files); err != nil || len(files) != 1 || files[0]["name"] != "j.bin" || files[0]["size"] != 4096.0 {
		t.Fatalf("line %q: %v %v", l, files, err)
	}
	if r := e.fsm(t, addr, nil, "unstage", "j.bin"); r.code != 0 {
		t.Fatalf("unstage:\n%s", r)
	}
	lr.waitFor("the empty list", func(l string) bool { return l == "[]" })
	w.Process.Signal(syscall.SIGINT)
	if err := w.Wait(); err != nil {
		t.Fatalf("watch after SIGINT: %v", err)
	}
}

// On a terminal, ls --watch redraws the table in place (the escape that
// moves back over the last frame, then a new frame) and Ctrl-C ends it with
// status 0.
func TestCLIWatchTerminal(t *testing.T) {
	c := testorigin.Content{Seed: 18, Size: 2 << 20}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/t.bin"})
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)
	if r := e.fsm(t, addr, nil, "stage", o.URL()); r.code != 0 {
		t.Fatalf("stage:\n%s", r)
	}
	w := e.cmd([]string{"FSM_ADDR=" + addr}, "ls", "--watch")
	tty, err := pty.StartWithSize(w, &pty.Winsize{Rows: 24, Cols: 100})
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer tty.Close()
	t.Cleanup(func() { w.Process.Kill() })
	// A frame is moved over with ESC[nA ESC[J before the next is written.
	lr := newLineReader(t, tty)
	lr.waitFor("the first frame", func(l string) bool { return strings.Contains(l, "t.bin") && strings.Contains(l, "idle") })
	resp, body := get(t, s.url+"t.bin")
	if resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
		t.Fatalf("GET: %s", resp.Status)
	}
	lr.waitFor("a redrawn frame", func(l string) bool { return strings.Contains(l, "A\x1b[Jfsm at "+addr) })
	lr.waitFor("the file complete", func(l string) bool {
		return strings.Contains(l, "t.bin") && strings.Contains(l, "100%") && strings.Contains(l, "complete")
	})
	w.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- w.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch after SIGINT: %v; output %q", err, lr.seen)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not exit after SIGINT")
	}
	for _, l := range lr.seen {
		if strings.Contains(l, "\x1b[?") {
			t.Errorf("terminal mode changed (and maybe not restored): %q", l)
		}
	}
}

// A source given to fsm serve that cannot be staged is listed as failed,
// with its reason on the line under it.
func TestCLIFailedSource(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 19, Size: 10}, Name: "/there.bin"})
	e := newCLIEnv(t)
	s, addr := serveIn(t, e, o.Server.URL+"/gone.bin")
	var objs []fileInfo
	fsmtest.Eventually(t, "the source listed as failed", func() bool {
		_, b := apiCall(t, http.MethodGet, s.url+".fsm/api/v1/files", "", nil)
		objs = nil
		json.Unmarshal(b, &objs)
		return len(objs) == 1 && objs[0].State == "failed"
	})
	r := e.fsm(t, addr, nil, "ls")
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 3 || !strings.Contains(lines[1], "failed") || lines[2] != "  error: "+objs[0].Error {
		t.Fatalf("want a heading, the failed row and %q under it:\n%s", objs[0].Error, r)
	}
	if r := e.fsm(t, addr, nil, "unstage", objs[0].Name); r.code != 0 {
		t.Fatalf("unstage the failed entry:\n%s", r)
	}
}

// A watch outlives a restart of its server: it says the server is gone,
// keeps trying, and when a new server answers at the address it shows that
// server's files (dropping the ones it no longer has) and says it is back.
// Ctrl-C still ends it with status 0. (It used to end with status 1 when
// its server stopped.)
func TestCLIWatchAcrossRestart(t *testing.T) {
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)
	w := e.cmd([]string{"FSM_ADDR=" + addr}, "ls", "--watch")
	stderr, err := w.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Process.Kill() })
	lr, er := newLineReader(t, stdout), newLineReader(t, stderr)
	// A staged file's line proves the events stream is open.
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 20, Size: 10}})
	if r := e.fsm(t, addr, nil, "stage", o.URL()); r.code != 0 {
		t.Fatalf("stage:\n%s", r)
	}
	lr.waitFor("the staged file", func(l string) bool { return strings.HasPrefix(l, "file.bin ") })
	if code := s.stop(t); code != 0 {
		t.Fatalf("server exit %d", code)
	}
	er.waitFor("the server gone", func(l string) bool {
		return strings.Contains(l, "the fsm server at "+addr+" ended the event stream") && strings.Contains(l, "retrying")
	})

	o2 := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 21, Size: 20}, Name: "/second.bin"})
	serveIn(t, e, "--addr", addr, o2.URL())
	er.waitFor("the server back", func(l string) bool { return l == "fsm: the fsm server at "+addr+" answers again" })
	lr.waitFor("the new server's file", func(l string) bool { return strings.HasPrefix(l, "second.bin ") })
	if !slices.Contains(lr.seen, "removed  file.bin") {
		t.Errorf("the file the new server does not have was not removed; lines %q", lr.seen)
	}

	w.Process.Signal(syscall.SIGINT)
	for range lr.lines {
	}
	for range er.lines {
	}
	if err := w.Wait(); err != nil {
		t.Fatalf("watch after SIGINT: %v; stderr %q", err, er.seen)
	}
}

// fsm retry: a failed file is staged again, one that is not failing is
// refused with the server's one line and exit status 1.
func TestCLIRetry(t *testing.T) {
	c := testorigin.Content{Seed: 13, Size: 1 << 20}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/r.bin"})
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)
	if r := e.fsm(t, addr, nil, "stage", o.URL()); r.code != 0 {
		t.Fatalf("stage:\n%s", r)
	}
	if r := e.fsm(t, addr, nil, "retry", "r.bin"); r.code != 1 || !strings.Contains(stderrLine(t, r), "not in error") {
		t.Fatalf("retry of an idle file: want exit 1 and \"not in error\":\n%s", r)
	}
	o.Change()
	get(t, s.url+"r.bin") // fails: the origin's file changed
	fsmtest.Eventually(t, "failed", func() bool {
		r := e.fsm(t, addr, nil, "ls")
		return strings.Contains(r.stdout, "failed")
	})
	if r := e.fsm(t, addr, nil, "retry", "r.bin"); r.code != 0 || !strings.HasPrefix(r.stdout, "retrying r.bin: ") {
		t.Fatalf("retry of a failed file:\n%s", r)
	}
	now, _, _ := o.Version()
	if resp, body := get(t, s.url+"r.bin"); resp.StatusCode != 200 || !bytes.Equal(body, now.Bytes(0, c.Size)) {
		t.Fatalf("GET after the retry: %s, %d bytes", resp.Status, len(body))
	}
}

// deadPid is the pid of a process that has exited (and been reaped).
func deadPid(t *testing.T) int {
	t.Helper()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}
