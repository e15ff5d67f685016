//go:build unix

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fsm/internal/fsmtest"
)

// tokenHome points the user cache folder at a fresh one and returns the
// token file fsm serve would write for addr there.
func tokenHome(t *testing.T, addr string) string {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	p, err := tokenFile(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func requireRoot(t *testing.T) {
	t.Helper()
	var err error
	if os.Geteuid() != 0 {
		err = errors.New("files of another uid can only be made by root")
	}
	fsmtest.Require(t, "root", err)
}

// The token file is new, 0600, in a 0700 folder, and records the token,
// this pid and the address; readTokenFile gives them back.
func TestWriteToken(t *testing.T) {
	p := tokenHome(t, "127.0.0.1:9100")
	got, err := writeToken("127.0.0.1:9100", "s3cret")
	if err != nil || got != p {
		t.Fatalf("writeToken = %q, %v; want %q", got, err, p)
	}
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode() != 0o600 {
		t.Fatalf("token file mode %v, %v; want -rw-------", fi.Mode(), err)
	}
	di, _ := os.Lstat(filepath.Dir(p))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("token folder mode %v, want 0700", di.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	if first, _, _ := strings.Cut(string(b), "\n"); first != "s3cret" {
		t.Errorf("first line %q, want the token alone (scripts read it)", first)
	}
	r, err := readTokenFile(p, true)
	if want := (tokenRecord{"s3cret", os.Getpid(), "127.0.0.1:9100"}); err != nil || r != want {
		t.Errorf("readTokenFile = %+v, %v; want %+v", r, err, want)
	}
	removeToken(p)
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("removeToken left %s: %v", p, err)
	}
}

// What is already where the token file goes: a stale file of this user's
// is replaced; a link, another user's file or a live process's file is
// refused, and nothing is written through or over it.
func TestWriteTokenOverExisting(t *testing.T) {
	const addr = "127.0.0.1:9101"
	tests := []struct {
		name   string
		root   bool // needs files of another uid
		setup  func(t *testing.T, p string)
		refuse string // "" when the stale file is replaced
	}{
		{name: "stale file of a dead fsm", setup: func(t *testing.T, p string) {
			os.WriteFile(p, tokenRecord{"old", deadPid(t), addr}.marshal(), 0o600)
		}},
		{name: "stale file of an older fsm (token alone)", setup: func(t *testing.T, p string) {
			os.WriteFile(p, []byte("old\n"), 0o600)
		}},
		{name: "file of a running process", refuse: "still running", setup: func(t *testing.T, p string) {
			os.WriteFile(p, tokenRecord{"old", os.Getppid(), addr}.marshal(), 0o600)
		}},
		{name: "symbolic link", refuse: "symbolic link", setup: func(t *testing.T, p string) {
			os.Symlink(filepath.Join(t.TempDir(), "victim"), p)
		}},
		{name: "dangling link to a file of the attacker's choosing", refuse: "symbolic link", setup: func(t *testing.T, p string) {
			os.Symlink("/nonexistent/fsm-token-target", p)
		}},
		{name: "another user's file", root: true, refuse: "someone else", setup: func(t *testing.T, p string) {
			os.WriteFile(p, []byte("attacker\n"), 0o644)
			os.Chown(p, 65534, 65534)
		}},
		{name: "a folder", refuse: "not a regular file", setup: func(t *testing.T, p string) {
			os.Mkdir(p, 0o700)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				requireRoot(t)
			}
			p := tokenHome(t, addr)
			if err := tokenDir(filepath.Dir(p)); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, p)
			before, _ := os.Lstat(p)
			target, _ := os.Readlink(p)
			_, err := writeToken(addr, "new")
			if tc.refuse == "" {
				r, rerr := readTokenFile(p, true)
				if err != nil || rerr != nil || r.token != "new" || r.pid != os.Getpid() {
					t.Fatalf("stale file not replaced: writeToken: %v; now %+v, %v", err, r, rerr)
				}
				return
			}
			if !errors.Is(err, errTokenRefused) || !strings.Contains(err.Error(), tc.refuse) || !strings.Contains(err.Error(), p) {
				t.Fatalf("writeToken = %v; want a refusal naming %s and saying %q", err, p, tc.refuse)
			}
			after, _ := os.Lstat(p)
			if !os.SameFile(before, after) || after.ModTime() != before.ModTime() || after.Size() != before.Size() {
				t.Errorf("the existing %s was changed", p)
			}
			if target != "" {
				if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("written through the link to %s: %v", target, err)
				}
			}
		})
	}
}

// The tokens folder must be this user's own and writable by no one else.
func TestTokenDirRefused(t *testing.T) {
	const addr = "127.0.0.1:9102"
	tests := []struct {
		name   string
		root   bool
		setup  func(t *testing.T, dir string)
		refuse string
	}{
		{name: "writable by everyone", refuse: "others may write", setup: func(t *testing.T, dir string) {
			os.Mkdir(dir, 0o700)
			os.Chmod(dir, 0o777)
		}},
		{name: "writable by the group", refuse: "others may write", setup: func(t *testing.T, dir string) {
			os.Mkdir(dir, 0o700)
			os.Chmod(dir, 0o770)
		}},
		{name: "a link to another folder", refuse: "symbolic link", setup: func(t *testing.T, dir string) {
			os.Symlink(t.TempDir(), dir)
		}},
		{name: "another user's folder", root: true, refuse: "uid 65534", setup: func(t *testing.T, dir string) {
			os.Mkdir(dir, 0o700)
			os.Chown(dir, 65534, 65534)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				requireRoot(t)
			}
			p := tokenHome(t, addr)
			dir := filepath.Dir(p)
			os.MkdirAll(filepath.Dir(dir), 0o700)
			tc.setup(t, dir)
			_, err := writeToken(addr, "new")
			if !errors.Is(err, errTokenRefused) || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("writeToken = %v; want a refusal saying %q", err, tc.refuse)
			}
			if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a token file was written in the refused folder: %v", err)
			}
		})
	}
}

func TestParseToken(t *testing.T) {
	tests := []struct {
		in   string
		want tokenRecord
		bad  bool
	}{
		{in: "abc\n", want: tokenRecord{token: "abc"}},
		{in: "abc", want: tokenRecord{token: "abc"}},
		{in: "abc\r\n", want: tokenRecord{token: "abc"}},
		{in: "abc\npid 12\naddr [::1]:80\n", want: tokenRecord{"abc", 12, "[::1]:80"}},
		{in: "abc\nlater 1\npid 7\n", want: tokenRecord{token: "abc", pid: 7}},
		{in: "", bad: true},
		{in: "\npid 7\n", bad: true},
		{in: "abc\npid x\n", bad: true},
		{in: "abc\npid -3\n", bad: true},
	}
	for _, tc := range tests {
		got, err := parseToken([]byte(tc.in))
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("parseToken(%q) = %+v, %v; want %+v (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

// The CLI reads only token files fsm serve could have written: a link or
// another user's file where one belongs is skipped like a missing one.
func TestFindTokenSkipsPlantedFiles(t *testing.T) {
	const addr = "127.0.0.1:9103"
	tests := []struct {
		name  string
		root  bool
		plant func(t *testing.T, p string)
	}{
		{name: "symbolic link", plant: func(t *testing.T, p string) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			os.WriteFile(target, tokenRecord{"planted", os.Getpid(), addr}.marshal(), 0o600)
			os.Symlink(target, p)
		}},
		{name: "another user's file", root: true, plant: func(t *testing.T, p string) {
			os.WriteFile(p, tokenRecord{"planted", os.Getpid(), addr}.marshal(), 0o600)
			os.Chown(p, 65534, 65534)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				requireRoot(t)
			}
			p := tokenHome(t, addr)
			os.MkdirAll(filepath.Dir(p), 0o700)
			tc.plant(t, p)
			if got := findToken(addr); got.value != "" || got.file != p {
				t.Errorf("findToken = %+v; want no token, looked for in %s", got, p)
			}
		})
	}
}
