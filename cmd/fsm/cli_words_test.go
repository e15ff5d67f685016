package main

// The CLI in the user's terms: one flag name for the address, errors that
// say what happened and what to do.

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// --addr is --server for the client commands; with no server where the
// CLI looks, it names the one whose token file it sees.
func TestCLIAddrAndOtherServer(t *testing.T) {
	e := newCLIEnv(t)
	_, addr := serveIn(t, e)
	if r := e.fsm(t, "", nil, "ls", "--json", "--addr", addr); r.code != 0 || r.stdout != "[]\n" {
		t.Fatalf("ls --addr:\n%s", r)
	}
	// A token file a crashed fsm left behind names no running server.
	stale := freeAddr(t)
	_, port, _ := net.SplitHostPort(stale)
	record := fmt.Sprintf("t0ken\npid %d\naddr %s\n", deadPid(t), stale)
	if err := os.WriteFile(filepath.Join(e.cache, "fsm", "tokens", "127.0.0.1_"+port), []byte(record), 0o600); err != nil {
		t.Fatal(err)
	}
	nobody := freeAddr(t)
	r := e.fsm(t, nobody, nil, "ls")
	line := stderrLine(t, r)
	if r.code != 1 || !strings.Contains(line, "no fsm server answers at "+nobody) || !strings.Contains(line, "but one runs at "+addr+": use --server "+addr) {
		t.Errorf("want the running server named, and only it:\n%s", r)
	}
}

// --name is checked against the naming rule before anything is sent: a
// name the server would tidy into another is refused, with the rule.
func TestCLINameRule(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 35, Size: 100}})
	e := newCLIEnv(t)
	_, addr := serveIn(t, e)
	for _, name := range []string{"../x", "a//b", "/abs.bin", "dir/"} {
		r := e.fsm(t, addr, nil, "stage", o.URL(), "--name", name)
		if line := stderrLine(t, r); r.code != 2 || !strings.Contains(line, `--name: bad name "`+name+`": empty, "." or ".." path element`) {
			t.Errorf("--name %s:\n%s", name, r)
		}
	}
	if n := len(o.Requests()); n != 0 {
		t.Errorf("the origin got %d requests for refused names", n)
	}
}

// unstage echoes the name the server removed, not the one as typed.
func TestCLIUnstageEchoesName(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 36, Size: 100}})
	e := newCLIEnv(t)
	_, addr := serveIn(t, e)
	if r := e.fsm(t, addr, nil, "stage", o.URL(), "--name", "a/b.bin"); r.code != 0 {
		t.Fatalf("stage:\n%s", r)
	}
	if r := e.fsm(t, addr, nil, "unstage", "a/b.bin/"); r.code != 0 || r.stdout != "unstaged a/b.bin\n" {
		t.Fatalf("unstage a/b.bin/:\n%s", r)
	}
}

// A wrong password is called that, not a missing one.
func TestCLIWrongPassword(t *testing.T) {
	e := newCLIEnv(t)
	dir := t.TempDir()
	pw, wrong := filepath.Join(dir, "pw"), filepath.Join(dir, "wrong")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	os.WriteFile(wrong, []byte("guess\n"), 0o600)
	_, addr := serveIn(t, e, "--user", "me", "--password-file", pw)
	r := e.fsm(t, addr, []string{"FSM_USER=me", "FSM_PASSWORD_FILE=" + wrong}, "ls")
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, `rejected the credentials of user "me"`) {
		t.Fatalf("wrong password:\n%s", r)
	}
}

// Ctrl-C during fsm stage says what the server did: it ends a staging
// whose request is cut, so nothing was added.
func TestCLIStageInterrupted(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select { // the probe hangs until the test ends or fsm gives up
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "late", http.StatusServiceUnavailable)
	}))
	defer origin.Close()
	defer close(release)
	e := newCLIEnv(t)
	_, addr := serveIn(t, e)
	c := e.cmd([]string{"FSM_ADDR=" + addr}, "stage", origin.URL+"/slow.bin")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	<-arrived
	c.Process.Signal(syscall.SIGINT)
	c.Wait()
	r := result{code: c.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, "stage "+origin.URL+"/slow.bin: interrupted; the server stopped staging it; nothing was added") {
		t.Fatalf("interrupted stage:\n%s", r)
	}
	// The server ends the staging when it sees the connection go, which
	// the CLI does not wait for.
	fsmtest.Eventually(t, "an empty list after the interrupted stage", func() bool {
		_, body := apiCall(t, http.MethodGet, "http://"+addr+"/.fsm/api/v1/files", "", nil)
		return string(bytes.TrimSpace(body)) == "[]"
	})
}

// A staging that fails through the API is in the server's log too.
func TestStageFailureLogged(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 37, Size: 100}, Name: "/there.bin"})
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)
	if r := e.fsm(t, addr, nil, "stage", o.Server.URL+"/missing.bin"); r.code != 1 {
		t.Fatalf("stage of a missing file:\n%s", r)
	}
	fsmtest.Eventually(t, "the failure in the server's log", func() bool {
		return strings.Contains(s.log.String(), `level=WARN msg="staging through the API failed"`) && strings.Contains(s.log.String(), "missing.bin")
	})
}

// A source whose origin does not tell its size is downloaded whole before
// it is staged, which takes as long as the download: fsm stage says so
// once while it waits, fsm ls lists it as downloading with at least its
// bytes so far, and the answer comes when the last byte is in.
func TestCLIStageUnknownSize(t *testing.T) {
	release := make(chan struct{})
	const first = 300_000
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // chunked, no size, no Range: the probe's GET too
		if r.Method != http.MethodGet {
			return
		}
		w.Write(bytes.Repeat([]byte{'a'}, first))
		w.(http.Flusher).Flush()
		select { // the rest waits until the test has seen the notice
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write(bytes.Repeat([]byte{'b'}, 1000))
	}))
	defer origin.Close()
	e := newCLIEnv(t)
	_, addr := serveIn(t, e)
	c := e.cmd([]string{"FSM_ADDR=" + addr}, "stage", origin.URL+"/growing.bin")
	var out bytes.Buffer
	c.Stdout = &out
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	noticed := make(chan string, 1)
	var rest bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "downloads it whole") {
				noticed <- sc.Text()
			} else {
				rest.WriteString(sc.Text() + "\n")
			}
		}
		close(noticed)
	}()
	line, ok := <-noticed
	if !ok {
		c.Wait()
		t.Fatalf("fsm stage ended without the notice: stdout %q, stderr %q", out.String(), rest.String())
	}
	if want := "fsm: growing.bin: the origin does not tell its size, so the server downloads it whole before staging it (300 kB so far); fsm ls shows the progress"; line != want {
		t.Errorf("notice %q, want %q", line, want)
	}
	if r := e.fsm(t, addr, nil, "ls"); r.code != 0 || !strings.Contains(r.stdout, ">=300 kB") || !strings.Contains(r.stdout, "downloading") {
		t.Errorf("ls while downloading whole:\n%s", r)
	}
	close(release)
	if err := c.Wait(); err != nil {
		t.Fatalf("fsm stage: %v: stdout %q, stderr %q", err, out.String(), rest.String())
	}
	if got, want := strings.TrimSpace(out.String()), "staged growing.bin (301 kB)"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
}
