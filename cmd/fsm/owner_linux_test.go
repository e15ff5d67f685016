package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// curlAs runs curl as uid (and its group) with no other groups, or as
// this test's user when uid is empty, and returns the HTTP status.
func curlAs(t *testing.T, uid string, args ...string) string {
	t.Helper()
	argv := append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20"}, args...)
	var cmd *exec.Cmd
	if uid == "" {
		cmd = exec.Command("curl", argv...)
	} else {
		cmd = exec.Command("setpriv", append([]string{"--reuid=" + uid, "--regid=" + uid, "--clear-groups", "curl"}, argv...)...)
	}
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("%s: %v", cmd, err)
	}
	return string(out)
}

// TestOtherLocalUserRefused: a client of another uid gets 403 on every
// path (WebDAV, API, page) from a real server on loopback, and is logged
// once; the owner still gets through.
func TestOtherLocalUserRefused(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		fsmtest.Require(t, "root (to run a client as another uid)", errors.New("not root"))
	}
	_, err := exec.LookPath("setpriv")
	fsmtest.Require(t, "setpriv", err)
	_, err = exec.LookPath("curl")
	fsmtest.Require(t, "curl", err)
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 17, Size: 1000}, Name: "/private.bin"})
	s := startServe(t, nil, "--cache-dir", t.TempDir(), o.URL())
	s.waitState(t, "private.bin", "idle")
	for _, c := range []struct {
		what  string
		args  []string
		owner string // the owner's status
	}{
		{"WebDAV PROPFIND", []string{"-X", "PROPFIND", "-H", "Depth: 1", s.url}, "207"},
		{"WebDAV GET", []string{s.url + "private.bin"}, "200"},
		{"page", []string{s.url + ".fsm/"}, "200"},
		{"API list", []string{s.url + ".fsm/api/v1/files"}, "200"},
		{"API info", []string{s.url + ".fsm/api/v1/info"}, "200"},
	} {
		if got := curlAs(t, "65534", c.args...); got != "403" {
			t.Errorf("%s as uid 65534: %s, want 403", c.what, got)
		}
		if got := curlAs(t, "", c.args...); got != c.owner {
			t.Errorf("%s as the owner: %s, want %s", c.what, got, c.owner)
		}
	}
	if n := strings.Count(s.log.String(), "uid=65534"); n != 1 {
		t.Errorf("uid 65534 logged %d times, want once:\n%s", n, s.log)
	}
}
