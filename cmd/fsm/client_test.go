package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServerURL(t *testing.T) {
	tests := []struct {
		in, base, addr string
	}{
		{"127.0.0.1:8080", "http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"https://fsm.example:8443/", "https://fsm.example:8443", "fsm.example:8443"},
		{"http://box", "http://box:80", "box:80"},
		{"[::1]:9000", "http://[::1]:9000", "[::1]:9000"},
		{"http://[::1]:9000", "http://[::1]:9000", "[::1]:9000"},
		{"localhost:1", "http://localhost:1", "localhost:1"},
		{":8080", "http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080", "127.0.0.1:8080"},
		{"[::]:8080", "http://[::1]:8080", "[::1]:8080"},
	}
	for _, tc := range tests {
		base, addr, err := serverURL(tc.in)
		if err != nil || base != tc.base || addr != tc.addr {
			t.Errorf("serverURL(%q) = %q, %q, %v; want %q, %q", tc.in, base, addr, err, tc.base, tc.addr)
		}
	}
	for _, bad := range []string{"", "8080", "host", "h:", "ftp://h:21", "http://h:1/path", "http://u:p@h:1", "http://h:1/?q=1"} {
		if _, _, err := serverURL(bad); err == nil {
			t.Errorf("serverURL(%q) accepted", bad)
		}
	}
}

func TestTokenFile(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", t.TempDir())
	dir := filepath.Join(cache, "fsm", "tokens")
	tests := []struct{ addr, name string }{
		{"127.0.0.1:8080", "127.0.0.1_8080"},
		{"[::1]:8080", "__1_8080"},
		{"[0:0::1]:8080", "__1_8080"},
		{"[::ffff:127.0.0.1]:8080", "127.0.0.1_8080"},
		{"[::]:80", "___80"},
		{"LocalHost:8080", "localhost_8080"},
	}
	for _, tc := range tests {
		p, err := tokenFile(tc.addr)
		if err != nil || p != filepath.Join(dir, tc.name) {
			t.Errorf("tokenFile(%q) = %q, %v; want %q", tc.addr, p, err, filepath.Join(dir, tc.name))
		}
	}
	for _, bad := range []string{"nonsense", "../x:1", `a\b:1`, ":1"} {
		if p, err := tokenFile(bad); err == nil {
			t.Errorf("tokenFile(%q) = %q, want an error", bad, p)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	h, err := parseHeaders([]string{"authorization: Bearer a:b", "Cookie:x=1; y=2", "X-Tab: a\tb"})
	if err != nil || len(h) != 3 || h["Authorization"] != "Bearer a:b" || h["Cookie"] != "x=1; y=2" || h["X-Tab"] != "a\tb" {
		t.Fatalf("%v %v", h, err)
	}
	for _, bad := range [][]string{{"no colon secret"}, {": v"}, {"Bad Name: v"}, {"A: 1", "a: 2"}, {"A: x\ry"}, {"A: x\x01y"}, {"A: x\x1b[0my"}, {"A: x\x7fy"}} {
		_, err := parseHeaders(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "x\ry") || strings.Contains(err.Error(), "x\x01y") {
			t.Errorf("%q: the error echoes the value: %v", bad, err)
		}
	}
}

func TestReadEvents(t *testing.T) {
	stream := ": keepalive\n\n" +
		"event: file\ndata: {\"name\":\"a\"}\n\n" +
		"event: removed\r\ndata: {\"name\":\"a\"}\r\n\r\n" +
		"data: line1\ndata: line2\n\n" +
		"event: file\ndata: {\"name\":\"cut"
	var got []string
	err := readEvents(strings.NewReader(stream), func(ev event) error {
		got = append(got, ev.kind+"="+string(ev.data))
		return nil
	})
	want := []string{`file={"name":"a"}`, `removed={"name":"a"}`, "message=line1\nline2"}
	if !errors.Is(err, io.EOF) || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, %v; want %q and EOF", got, err, want)
	}
	stop := errors.New("stop")
	if err := readEvents(strings.NewReader(stream), func(event) error { return stop }); err != stop {
		t.Fatalf("fn's error not returned: %v", err)
	}
}

// The token of a loopback server is found under the name it listens on,
// whichever loopback name the CLI was given.
func TestFindToken(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	dir := filepath.Join(cache, "fsm", "tokens")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "127.0.0.1_9001"), []byte("four\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "___9002"), []byte("any\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "box_9003"), []byte("remote\n"), 0o600)
	tests := []struct{ addr, value, file string }{
		{"127.0.0.1:9001", "four", "127.0.0.1_9001"},
		{"localhost:9001", "four", "127.0.0.1_9001"},
		{"[::1]:9002", "any", "___9002"},
		{"box:9003", "remote", "box_9003"},
		{"127.0.0.1:9003", "", "127.0.0.1_9003"}, // another host's token is never tried
	}
	for _, tc := range tests {
		got := findToken(tc.addr)
		if got.value != tc.value || got.file != filepath.Join(dir, tc.file) {
			t.Errorf("findToken(%q) = %+v, want %q from %s", tc.addr, got, tc.value, tc.file)
		}
	}
}
