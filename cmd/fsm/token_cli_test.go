package main

// The token file and --token-file with the real binary.

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fsm/internal/testorigin"
)

// --token-file gives serve its token and the client commands theirs, with
// no secret on either command line; FSM_TOKEN_FILE does the same.
func TestCLITokenFileFlag(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 21, Size: 100}, Name: "/tf.bin"})
	e := newCLIEnv(t)
	secret := filepath.Join(t.TempDir(), "token")
	os.WriteFile(secret, []byte("a-token-from-a-file\n"), 0o600)
	s, addr := serveIn(t, e, "--token-file", secret)
	if got := readToken(t, e, addr); got != "a-token-from-a-file" {
		t.Fatalf("serve --token-file: the server's token file says %q", got)
	}
	if st, b := apiCall(t, http.MethodDelete, s.url+".fsm/api/v1/files/none", "a-token-from-a-file", nil); st != http.StatusNotFound {
		t.Fatalf("the file's token is not the server's: %d %s", st, b)
	}
	// Another user of the same server (no token file of their own) gives
	// the file instead of --token.
	other := newCLIEnv(t)
	if r := other.fsm(t, addr, nil, "stage", "--token-file", secret, o.URL()); r.code != 0 {
		t.Fatalf("stage --token-file:\n%s", r)
	}
	if r := other.fsm(t, addr, []string{"FSM_TOKEN_FILE=" + secret}, "unstage", "tf.bin"); r.code != 0 || r.stdout != "unstaged tf.bin\n" {
		t.Fatalf("FSM_TOKEN_FILE:\n%s", r)
	}
	// The server's own token file works as --token-file too.
	own := filepath.Join(e.cache, "fsm", "tokens", strings.ReplaceAll(addr, ":", "_"))
	if r := other.fsm(t, addr, nil, "stage", "--token-file", own, o.URL()); r.code != 0 {
		t.Fatalf("stage --token-file with the server's own file:\n%s", r)
	}
	// Both at once, or a missing file, is a usage error.
	if r := other.fsm(t, addr, nil, "ls", "--token", "x", "--token-file", secret); r.code != 2 || !strings.Contains(r.stderr, "--token-file") {
		t.Errorf("--token with --token-file:\n%s", r)
	}
	if r := other.fsm(t, addr, nil, "ls", "--token-file", secret+".missing"); r.code != 2 || !strings.Contains(r.stderr, "--token-file") {
		t.Errorf("a missing --token-file:\n%s", r)
	}
}

// A pre-created token file or link where serve writes its own stops serve
// with a message naming it; nothing is written through the link.
func TestServeRefusesPlantedTokenFile(t *testing.T) {
	for _, kind := range []string{"symlink", "file of a running process"} {
		t.Run(kind, func(t *testing.T) {
			e := newCLIEnv(t)
			addr := freeAddr(t)
			dir := filepath.Join(e.cache, "fsm", "tokens")
			os.MkdirAll(dir, 0o700)
			p := filepath.Join(dir, strings.ReplaceAll(addr, ":", "_"))
			target := filepath.Join(t.TempDir(), "victim")
			switch kind {
			case "symlink":
				os.Symlink(target, p)
			default:
				os.WriteFile(p, tokenRecord{"planted", os.Getpid(), addr}.marshal(), 0o600)
			}
			r := e.fsm(t, addr, []string{"FSM_CACHE_DIR=" + t.TempDir()}, "serve", "--addr", addr)
			if r.code != 1 || !strings.Contains(r.stderr, p) {
				t.Fatalf("serve beside a planted token file: want exit 1 naming %s:\n%s", p, r)
			}
			if _, err := os.Lstat(target); err == nil {
				t.Errorf("serve wrote through the link to %s", target)
			}
		})
	}
}

// Staging beyond --max-files fails with the server's message; unstaging
// makes room.
func TestCLIMaxFiles(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 22, Size: 100}})
	e := newCLIEnv(t)
	_, addr := serveIn(t, e, "--max-files", "1")
	if r := e.fsm(t, addr, nil, "stage", o.URL(), "--name", "one.bin"); r.code != 0 {
		t.Fatalf("first file:\n%s", r)
	}
	r := e.fsm(t, addr, nil, "stage", o.URL(), "--name", "two.bin")
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, "limit") || !strings.Contains(line, "unstage") {
		t.Fatalf("beyond --max-files:\n%s", r)
	}
	e.fsm(t, addr, nil, "unstage", "one.bin")
	if r := e.fsm(t, addr, nil, "stage", o.URL(), "--name", "two.bin"); r.code != 0 {
		t.Fatalf("after an unstage:\n%s", r)
	}
}
