//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

var desktopPathRE = regexp.MustCompile(`mounted by the desktop's WebDAV client" path=("(?:[^"\\]|\\.)*"|\S+)`)

// serve --mount: the desktop's own WebDAV client (gvfs, in a private
// session here) mounts the tree, the local path is logged and listed in
// each file's paths, reads through it return the origin's bytes, and it is
// unmounted at exit.
func TestServeMount(t *testing.T) {
	s := fsmtest.NewGvfsSession(t)
	c := testorigin.Content{Seed: 21, Size: 3<<20 + 7}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/m.bin"})
	srv := startServe(t, s.Env, "--cache-dir", t.TempDir(), "--mount", o.URL())
	var dir string
	fsmtest.Eventually(t, "the desktop mount's path in the log", func() bool {
		m := desktopPathRE.FindStringSubmatch(srv.log.String())
		if m == nil {
			return false
		}
		dir = m[1]
		if uq, err := strconv.Unquote(dir); err == nil {
			dir = uq
		}
		return true
	})
	if filepath.Dir(dir) != s.FuseDir() {
		t.Fatalf("mount path %s is not under gvfs's %s", dir, s.FuseDir())
	}
	obj := srv.waitState(t, "m.bin", "idle")
	paths, _ := obj["paths"].([]any)
	if len(paths) != 1 || paths[0] != filepath.Join(dir, "m.bin") {
		t.Errorf("API paths %v, want [%s]", obj["paths"], filepath.Join(dir, "m.bin"))
	}
	got, err := os.ReadFile(filepath.Join(dir, "m.bin"))
	if err != nil || !bytes.Equal(got, c.Bytes(0, c.Size)) {
		t.Fatalf("read through the desktop mount: %d bytes, %v", len(got), err)
	}
	var info struct {
		MountDir string `json:"mount_dir"`
	}
	resp, err := http.Get(srv.url + ".fsm/api/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.MountDir != dir {
		t.Errorf("info mount_dir %q, want %q", info.MountDir, dir)
	}
	if code := srv.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, srv.log)
	}
	if _, err := s.Gio("info", "dav://"+srv.url[len("http://"):]); err == nil {
		t.Errorf("the dav location is still mounted after fsm exited")
	}
}

// A --mount that cannot work says why in one line, and fsm keeps serving.
func TestServeMountFailsSoftly(t *testing.T) {
	c := testorigin.Content{Seed: 22, Size: 1000}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/s.bin"})
	srv := startServe(t, []string{"PATH=" + t.TempDir()}, "--cache-dir", t.TempDir(), "--mount", o.URL())
	fsmtest.Eventually(t, "the --mount failure in the log", func() bool {
		return regexp.MustCompile(`--mount failed.*install`).MatchString(srv.log.String())
	})
	srv.waitState(t, "s.bin", "idle")
	if resp, body := get(t, srv.url+"s.bin"); resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
		t.Fatalf("GET after a failed --mount: %s", resp.Status)
	}
	if code := srv.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, srv.log)
	}
}
