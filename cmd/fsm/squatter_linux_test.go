package main

// A program that is not the user's fsm listens where the CLI goes: it must
// never receive the token, a staged URL or a header.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// squatterScript is a plain HTTP server that answers every request with
// {} and prints each one it receives, headers and body, on stdout.
const squatterScript = `
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def any(self):
        n = int(self.headers.get('Content-Length') or 0)
        sys.stdout.write('REQ %s %s %r %r\n' % (self.command, self.path, dict(self.headers), self.rfile.read(n)))
        sys.stdout.flush()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.end_headers()
        self.wfile.write(b'{}')
    do_GET = do_POST = do_DELETE = any
    def log_message(self, *a): pass
s = http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H)
print('READY', flush=True)
s.serve_forever()
`

// squatter is a server the CLI must not talk to, and what it received.
type squatter struct {
	mu       sync.Mutex
	received []string
	stop     func() // ends it; received is complete after
}

func (q *squatter) got() []string {
	q.stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.received
}

// squatAs runs squatterScript as uid 65534 on addr.
func squatAs(t *testing.T, addr string) *squatter {
	t.Helper()
	if os.Getuid() != 0 {
		fsmtest.Require(t, "root (to run a server as another uid)", errors.New("not root"))
	}
	_, err := exec.LookPath("setpriv")
	fsmtest.Require(t, "setpriv", err)
	// The system's python, not a per-user shim uid 65534 cannot run.
	_, err = os.Stat("/usr/bin/python3")
	fsmtest.Require(t, "/usr/bin/python3", err)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", squatterScript, host, port)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	q := &squatter{}
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "READY" {
				close(ready)
				continue
			}
			q.mu.Lock()
			q.received = append(q.received, sc.Text())
			q.mu.Unlock()
		}
	}()
	var once sync.Once
	q.stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			<-done
			cmd.Wait()
		})
	}
	t.Cleanup(q.stop)
	select {
	case <-ready:
	case <-done:
		t.Fatalf("the squatter as uid 65534 did not start on %s", addr)
	case <-time.After(20 * time.Second):
		t.Fatalf("the squatter as uid 65534 did not start on %s", addr)
	}
	return q
}

// squatHere runs a squatter of this user's, in this process, on addr.
func squatHere(t *testing.T, addr string) *squatter {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fsmtest.Require(t, "a listener on "+addr, err)
	}
	q := &squatter{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		q.mu.Lock()
		q.received = append(q.received, fmt.Sprintf("REQ %s %s %v %q", r.Method, r.URL, r.Header, b))
		q.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	})}
	go srv.Serve(ln)
	q.stop = func() { srv.Close() }
	t.Cleanup(q.stop)
	return q
}

// plantToken writes the token file fsm serve would write for addr in e,
// recording pid.
func plantToken(t *testing.T, e *cliEnv, addr, token string, pid int) string {
	t.Helper()
	dir := filepath.Join(e.cache, "fsm", "tokens")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	p := filepath.Join(dir, strings.ReplaceAll(host, ":", "_")+"_"+port)
	if err := os.WriteFile(p, tokenRecord{token, pid, addr}.marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// livePid is a running process that holds no socket.
func livePid(t *testing.T) int {
	t.Helper()
	c := exec.Command("sleep", "600")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	return c.Process.Pid
}

const (
	secretToken  = "tok-SECRET-1"
	secretURL    = "http://127.0.0.1:1/f.bin?X-Amz-Signature=SIG-SECRET-2"
	secretHeader = "Authorization: Bearer HDR-SECRET-3"
)

// The commands that carry secrets, and ls, which carries none but must not
// trust what another program lists either.
var squatCommands = [][]string{
	{"stage", secretURL, "--header", secretHeader},
	{"unstage", "f.bin"},
	{"ls"},
}

func checkNothingSent(t *testing.T, q *squatter) {
	t.Helper()
	for _, req := range q.got() {
		t.Errorf("the squatter received a request: %s", req)
	}
}

// TestCLISquatterOfAnotherUser: a server of uid 65534 on the port gets no
// request from any command, whether the token comes from the token file
// (with a live pid of the user's) or from --token; the CLI says the server
// is not the user's.
func TestCLISquatterOfAnotherUser(t *testing.T) {
	addr := freeAddr(t)
	q := squatAs(t, addr)
	e := newCLIEnv(t)
	plantToken(t, e, addr, secretToken, livePid(t))
	for _, extra := range [][]string{nil, {"FSM_TOKEN=" + secretToken}} {
		for _, args := range squatCommands {
			r := e.fsm(t, addr, extra, args...)
			if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, "the server at "+addr+" is not yours") || !strings.Contains(line, "uid 65534") {
				t.Errorf("fsm %v with %v against uid 65534's server:\n%s", args, extra, r)
			}
		}
	}
	checkNothingSent(t, q)
}

// TestCLISquatterOfTheSameUser: a program of the user's own on the port of
// an fsm that has exited (or whose pid is now another program's) is not
// the fsm that wrote the token file, and gets nothing.
func TestCLISquatterOfTheSameUser(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  func(t *testing.T) int
		why  string
	}{
		{"the fsm has exited", deadPid, "has exited"},
		{"its pid is another program's", livePid, "does not listen there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			q := squatHere(t, addr)
			e := newCLIEnv(t)
			p := plantToken(t, e, addr, secretToken, tc.pid(t))
			for _, args := range squatCommands {
				r := e.fsm(t, addr, nil, args...)
				if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, "is not the fsm that wrote "+p) || !strings.Contains(line, tc.why) {
					t.Errorf("fsm %v:\n%s", args, r)
				}
			}
			checkNothingSent(t, q)
		})
	}
}

// TestCLISquatterWithoutToken: with no token at all, a program of the
// user's own on the port may see that a change was asked for, never the
// URL or a header value.
func TestCLISquatterWithoutToken(t *testing.T) {
	addr := freeAddr(t)
	q := squatHere(t, addr)
	e := newCLIEnv(t)
	e.fsm(t, addr, nil, squatCommands[0]...)
	for _, req := range q.got() {
		for _, secret := range []string{"SIG-SECRET-2", "HDR-SECRET-3"} {
			if strings.Contains(req, secret) {
				t.Errorf("the squatter received %s: %s", secret, req)
			}
		}
	}
}

// TestCLITokenFallbackStaysWithItsServer: the token file of the fsm on
// 127.0.0.1:P is found for [::1]:P and localhost:P, but the CLI takes it
// to 127.0.0.1:P, never to the program listening on [::1]:P.
func TestCLITokenFallbackStaysWithItsServer(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 23, Size: 100}, Name: "/fb.bin"})
	e := newCLIEnv(t)
	_, addr := serveIn(t, e)
	_, port, _ := net.SplitHostPort(addr)
	q := squatHere(t, net.JoinHostPort("::1", port))
	for _, server := range []string{net.JoinHostPort("::1", port), "localhost:" + port} {
		if r := e.fsm(t, server, nil, "stage", o.URL()+"?sig=SIG-SECRET", "--name", "fb.bin"); r.code != 0 {
			t.Errorf("stage through %s:\n%s", server, r)
		}
		if r := e.fsm(t, server, nil, "unstage", "fb.bin"); r.code != 0 {
			t.Errorf("unstage through %s:\n%s", server, r)
		}
	}
	checkNothingSent(t, q)
}
