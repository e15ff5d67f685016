package webdav

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"fsm/internal/fsmtest"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"fsm/guard"
)

// Real WebDAV clients against the handler on loopback. Each test skips when
// its client is not installed, and fails instead under CI (env CI set).

// run runs a client with a bounded time and returns its combined output.
func run(t *testing.T, dir string, env []string, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func rcloneEnv(t *testing.T) []string {
	conf := filepath.Join(t.TempDir(), "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"RCLONE_CONFIG=" + conf}
}

func TestRcloneListAndCat(t *testing.T) {
	needBinary(t, "rclone")
	e := newEnv(t, envOptions{names: []string{"movie.mp4", "series/e01.mkv"}})
	env := rcloneEnv(t)
	url := "--webdav-url=" + e.url("/")

	out, err := run(t, "", env, "", "rclone", "lsjson", "-R", ":webdav:", url)
	if err != nil {
		t.Fatalf("rclone lsjson: %v\n%s", err, out)
	}
	var list []struct {
		Path, Name, MimeType string
		Size                 int64
		ModTime              time.Time
		IsDir                bool
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &list); err != nil {
		t.Fatalf("lsjson output: %v\n%s", err, out)
	}
	got := map[string]int64{}
	for _, it := range list {
		got[it.Path] = it.Size
		if it.Path == "movie.mp4" {
			f := e.file("movie.mp4")
			if !it.ModTime.Equal(f.ModTime()) || it.MimeType != "video/mp4" {
				t.Errorf("rclone sees movie.mp4 as %+v", it)
			}
		}
	}
	size := e.content.Size
	if got["movie.mp4"] != size || got["series/e01.mkv"] != size || len(got) != 3 {
		t.Errorf("rclone lsjson -R: %v", got)
	}
	if n := e.originGETs(); n != 0 {
		t.Errorf("listing made %d origin GETs", n)
	}

	cmd := exec.Command("rclone", "cat", ":webdav:series/e01.mkv", url)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	body, err := cmd.Output()
	if err != nil {
		t.Fatalf("rclone cat: %v\n%s", err, stderr.String())
	}
	if !bytes.Equal(body, e.content.Bytes(0, size)) {
		t.Fatalf("rclone cat: %d bytes, not the origin's", len(body))
	}
	out, err = run(t, "", env, "", "rclone", "cat", "--offset=1000000", "--count=5000", ":webdav:movie.mp4", url)
	if err != nil || out != string(e.content.Bytes(1000000, 5000)) {
		t.Fatalf("rclone cat --offset: %v (%d bytes)", err, len(out))
	}
	// A write through rclone is refused, not mistaken for success.
	src := filepath.Join(t.TempDir(), "up.txt")
	os.WriteFile(src, []byte("hello"), 0o644)
	if out, err := run(t, "", env, "", "rclone", "copyto", "--retries=1", "--low-level-retries=1", src, ":webdav:up.txt", url); err == nil {
		t.Errorf("rclone copyto succeeded on a read-only tree:\n%s", out)
	}
}

func TestRcloneMount(t *testing.T) {
	e := newEnv(t, envOptions{names: []string{"movie.mp4", "series/e01.mkv"}})
	dir := fsmtest.RcloneMount(t, e.url("/"))

	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 2 {
		t.Fatalf("ReadDir of the mount: %v %v", entries, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "movie.mp4"))
	if err != nil || fi.Size() != e.content.Size || !fi.ModTime().Equal(e.file("movie.mp4").ModTime()) {
		t.Fatalf("stat through the mount: %v %v", fi, err)
	}
	for _, name := range []string{"movie.mp4", "series/e01.mkv"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("read %s through the mount: %v", name, err)
		}
		if !bytes.Equal(got, e.content.Bytes(0, e.content.Size)) {
			t.Fatalf("%s through the mount: %d bytes, not the origin's", name, len(got))
		}
	}
	f, err := os.Open(filepath.Join(dir, "movie.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4096)
	if _, err := f.ReadAt(p, 2_000_000); err != nil || !bytes.Equal(p, e.content.Bytes(2_000_000, 4096)) {
		t.Errorf("ReadAt through the mount: %v", err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, "new.txt"), []byte("x"), 0o644); err == nil {
		t.Errorf("writing into the read-only mount succeeded")
	}
}

func TestCadaver(t *testing.T) {
	needBinary(t, "cadaver")
	for _, auth := range []bool{false, true} {
		t.Run(fmt.Sprintf("auth=%v", auth), func(t *testing.T) {
			o := envOptions{names: []string{"movie.mp4", "docs/read me.txt"}}
			if auth {
				o.wrap = func(h http.Handler) http.Handler { return guard.BasicAuth(h, "alice", "s3cret", "fsm") }
			}
			e := newEnv(t, o)
			home := t.TempDir()
			if auth {
				// cadaver takes credentials from ~/.netrc.
				host := strings.TrimPrefix(e.srv.URL, "http://")
				host = host[:strings.LastIndex(host, ":")]
				netrc := fmt.Sprintf("machine %s login alice password s3cret\n", host)
				if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte(netrc), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			work := t.TempDir()
			script := "ls\ncd docs\nls\nget \"read me.txt\" readme.out\ncd ..\nget movie.mp4 movie.out\nquit\n"
			out, err := run(t, work, []string{"HOME=" + home}, script, "cadaver", e.url("/"))
			if err != nil {
				t.Fatalf("cadaver: %v\n%s", err, out)
			}
			for _, want := range []string{"movie.mp4", "docs", "read me.txt"} {
				if !strings.Contains(out, want) {
					t.Errorf("cadaver ls does not show %q:\n%s", want, out)
				}
			}
			for _, f := range []string{"readme.out", "movie.out"} {
				got, err := os.ReadFile(filepath.Join(work, f))
				if err != nil || !bytes.Equal(got, e.content.Bytes(0, e.content.Size)) {
					t.Errorf("cadaver get → %s: %d bytes, %v\n%s", f, len(got), err, out)
				}
			}
		})
	}
}

// TestLitmus runs litmus's basic, copymove and props suites against the
// same layers fsm uses (wrap) over x/net/webdav's writable
// in-memory tree: the layers must not break a compliant server. (litmus
// cannot run against the read-only tree itself; TestReadOnlyProtected
// covers that.)
func TestLitmus(t *testing.T) {
	needBinary(t, "litmus")
	// The twin needs what fsm's tree never has: a writable FileSystem and
	// a working LockSystem (litmus's basic and copymove suites write).
	twin := wrap(&webdav.Handler{FileSystem: webdav.NewMemFS(), LockSystem: webdav.NewMemLS()})
	srv := httptest.NewServer(twin)
	defer srv.Close()
	out, err := run(t, t.TempDir(), []string{"TESTS=basic copymove props"}, "", "litmus", srv.URL+"/")
	if err != nil {
		t.Fatalf("litmus failed: %v\n%s", err, out)
	}
	t.Logf("litmus:\n%s", out)
	for _, suite := range []string{"basic", "copymove", "props"} {
		if !strings.Contains(out, "-> running `"+suite+"'") {
			t.Errorf("litmus did not run %s", suite)
		}
	}
}

func TestCurl(t *testing.T) {
	needBinary(t, "curl")
	e := newEnv(t, envOptions{})
	f := e.file("movie.mp4")
	dir := t.TempDir()
	out, err := run(t, dir, nil, "", "curl", "-sS", "-D", "headers", "-o", "body", "-r", "1000-1999", e.url("/movie.mp4"))
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	hdr, _ := os.ReadFile(filepath.Join(dir, "headers"))
	body, _ := os.ReadFile(filepath.Join(dir, "body"))
	for _, want := range []string{"HTTP/1.1 206", fmt.Sprintf("Content-Range: bytes 1000-1999/%d", f.Size()), "Etag: " + f.ETag()} {
		if !strings.Contains(string(hdr), want) {
			t.Errorf("curl -r: headers lack %q:\n%s", want, hdr)
		}
	}
	if !bytes.Equal(body, e.content.Bytes(1000, 1000)) {
		t.Errorf("curl -r: wrong bytes")
	}
	out, err = run(t, dir, nil, "", "curl", "-sS", "-I", e.url("/movie.mp4"))
	if err != nil || !strings.Contains(out, fmt.Sprintf("Content-Length: %d", f.Size())) || !strings.Contains(out, "Content-Type: video/mp4") {
		t.Errorf("curl -I: %v\n%s", err, out)
	}
	out, err = run(t, dir, nil, "", "curl", "-sS", "-X", "PROPFIND", "-H", "Depth: 1", e.url("/"))
	if err != nil || !strings.Contains(out, "<D:href>/movie.mp4</D:href>") {
		t.Errorf("curl PROPFIND: %v\n%s", err, out)
	}
	out, err = run(t, dir, nil, "", "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", "headers", e.url("/up.txt"))
	if err != nil || out != "403" {
		t.Errorf("curl -T (PUT): %v %q", err, out)
	}
}
