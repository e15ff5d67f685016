package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// runSplit runs fsm to completion in dir ("" for the test's) and returns
// its exit code, stdout and stderr.
func runSplit(t *testing.T, bin, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = hermeticEnv(t, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return ee.ExitCode(), stdout.String(), stderr.String()
		case err != nil:
			t.Fatal(err)
		}
		return 0, stdout.String(), stderr.String()
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("fsm %v did not exit", args)
		return 0, "", ""
	}
}

// A command line that cannot run exits 2 with a short message on stderr,
// never the whole usage.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"--nope"},
		{"serve", "--nope"},
		{"serve", "--log-level", "loud"},
		{"help", "bogus"},
	} {
		code, stdout, stderr := runSplit(t, bin, "", nil, args...)
		if code != 2 {
			t.Errorf("fsm %q: exit %d, want 2", args, code)
		}
		if stdout != "" || strings.Contains(stderr, "Usage:") || strings.Count(stderr, "\n") > 3 || !strings.HasPrefix(stderr, "fsm: ") {
			t.Errorf("fsm %q: want a short message on stderr only; stdout %q, stderr %q", args, stdout, stderr)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, flag, stderr := runSplit(t, bin, "", nil, "--version")
	if code != 0 || stderr != "" {
		t.Fatalf("fsm --version: exit %d, stderr %q", code, stderr)
	}
	code, cmd, _ := runSplit(t, bin, "", nil, "version")
	if code != 0 || cmd != flag {
		t.Errorf("fsm version: exit %d, %q; want what --version printed, %q", code, cmd, flag)
	}
	for _, want := range []string{"fsm ", "commit: ", "FUSE: not built in"} {
		if !strings.Contains(flag, want) {
			t.Errorf("fsm --version %q does not say %q", flag, want)
		}
	}
	code, out, _ := runSplit(t, bin, "", nil, "help")
	if code != 0 || !strings.Contains(out, "Usage: fsm") || !strings.Contains(out, "serve") {
		t.Errorf("fsm help: exit %d:\n%s", code, out)
	}
	code, out, _ = runSplit(t, bin, "", nil, "help", "serve")
	if code != 0 || !strings.Contains(out, "--fuse") {
		t.Errorf("fsm help serve: exit %d:\n%s", code, out)
	}
}

// Version and commit come from the link flags when given.
func TestVersionFromLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds another binary")
	}
	stamped := filepath.Join(t.TempDir(), "fsm")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=1.2.3 -X main.commit=0123abcd", "-o", stamped, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	_, out, _ := runSplit(t, stamped, "", nil, "version")
	if !strings.HasPrefix(out, "fsm 1.2.3\n") || !strings.Contains(out, "commit: 0123abcd\n") {
		t.Errorf("fsm version of a stamped build: %q", out)
	}
}

// ~ in FSM_CACHE_DIR (and --cache-dir) is the home directory, not a
// folder named "~".
func TestHomeExpands(t *testing.T) {
	home, cwd := t.TempDir(), t.TempDir()
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 23, Size: 100}})
	for _, c := range []struct {
		name string
		env  []string
		args []string
	}{
		{"env", []string{"HOME=" + home, "FSM_CACHE_DIR=~/fromenv"}, nil},
		{"flag", []string{"HOME=" + home}, []string{"--cache-dir", "~/fromflag"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, append(append([]string{"serve", "--addr", "127.0.0.1:0"}, c.args...), o.URL())...)
			cmd.Dir = cwd
			cmd.Env = hermeticEnv(t, c.env...)
			s := start(t, cmd)
			want := filepath.Join(home, "from"+c.name)
			fsmtest.Eventually(t, "the cache dir in the home directory", func() bool {
				_, err := os.Stat(want)
				return err == nil
			})
			if code := s.stop(t); code != 0 {
				t.Fatalf("exit %d:\n%s", code, s.log)
			}
			if _, err := os.Stat(filepath.Join(cwd, "~")); !os.IsNotExist(err) {
				t.Errorf("a literal ~ folder was created in the working directory: %v", err)
			}
		})
	}
}

// Start failures say what to change, in the user's terms.
func TestStartMessages(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	for _, c := range []struct {
		name    string
		args    []string
		code    int
		want    string
		notWant string
	}{
		{"address in use", []string{"--addr", busy.Addr().String(), "--cache-dir", t.TempDir()}, 1, "is another fsm running?", ""},
		{"address not ours", []string{"--addr", "192.0.2.1:8080", "--user", "u", "--password-file", pw, "--cache-dir", t.TempDir()}, 1, "192.0.2.1:8080", "another fsm"},
		{"cache dir under a file", []string{"--addr", "127.0.0.1:0", "--cache-dir", filepath.Join(file, "sub")}, 1, "--cache-dir", ""},
		{"empty size", []string{"--cache-max-size", ""}, 2, "--cache-max-size", "strconv"},
		{"empty addr", []string{"--addr", ""}, 2, "--addr", "missing port"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runSplit(t, bin, "", nil, append([]string{"serve"}, c.args...)...)
			if code != c.code || !strings.Contains(stderr, c.want) || (c.notWant != "" && strings.Contains(stderr, c.notWant)) {
				t.Errorf("exit %d (want %d), stderr should say %q and not %q:\n%s", code, c.code, c.want, c.notWant, stderr)
			}
		})
	}
}

// A plain go build in a git checkout names the commit (go's VCS stamp),
// with no ldflags. The module is copied into a fresh repository, since a
// git worktree (as developers and CI may build in) gets no stamp.
func TestVersionFromVCS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds another binary")
	}
	_, err := exec.LookPath("git")
	fsmtest.Require(t, "git", err)
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	dir := t.TempDir()
	archive := exec.Command("sh", "-c", `git -C "$1" archive HEAD | tar -x -C "$2"`, "sh", strings.TrimSpace(string(root)), dir)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("copy the module: %v\n%s", err, out)
	}
	git := func(args ...string) string {
		t.Helper()
		c := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "copy")
	rev := git("rev-parse", "HEAD")
	out := filepath.Join(t.TempDir(), "fsm")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", out, "./cmd/fsm")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	_, text, _ := runSplit(t, out, "", nil, "version")
	if !strings.Contains(text, "commit: "+rev+"\n") {
		t.Errorf("fsm version of a plain go build at %s:\n%s", rev, text)
	}
}
