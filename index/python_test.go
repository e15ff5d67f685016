package index

import (
	"bufio"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"fsm/internal/fsmtest"
)

// pythonServer starts Python's real `python3 -m http.server` on a loopback
// port over dir and returns its base URL. It is stopped at cleanup.
func pythonServer(t *testing.T, dir string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	fsmtest.Require(t, "python3", err)
	ctx, cancel := context.WithCancel(context.Background())
	// -u: the "Serving HTTP on" line must reach the pipe now, not at exit.
	cmd := exec.CommandContext(ctx, py, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, "0")
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder // read only after Wait
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		fsmtest.Require(t, "python3 -m http.server", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("http.server log:\n%s", stderr.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`Serving HTTP on \S+ port (\d+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- "http://127.0.0.1:" + m[1]
				break
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("http.server exited without serving") // its log follows at cleanup
		}
		return a
	case <-time.After(30 * time.Second): // turns a hang into a failure, orders nothing
		t.Fatal("http.server did not say where it serves")
		return ""
	}
}

// TestListPythonHTTPServer lists a tree of odd names through Python's own
// directory listing and compares it with the tree on disk.
func TestListPythonHTTPServer(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	files := []string{
		"plain.txt",
		"space name.txt",
		"ünïcode ♪.bin",
		"100%.txt",
		"a&b;c.txt",
		"q?mark.txt",
		"hash#1.txt",
		`quote"s 'and' <angles>.txt`,
		`back\slash.txt`,
		".hidden",
		"sub dir/inner #1.txt",
		"sub dir/deeper/ok.bin",
		"sub dir/deeper/日本語/深い.txt",
		"[brackets]/x.txt",
	}
	for _, f := range files {
		p := filepath.Join(tree, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(tree, "empty dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A server-side loop: self/ is the folder again, forever. Depth ends it.
	loopy := filepath.Join(dir, "loopy")
	if err := os.MkdirAll(loopy, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(loopy, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".", filepath.Join(loopy, "self")); err != nil {
		t.Fatal(err)
	}

	var want []string
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(tree, p)
		want = append(want, strings.ReplaceAll(filepath.ToSlash(rel), "/", "|"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)

	base := pythonServer(t, dir)
	// No trailing slash: http.server redirects to the folder.
	es, err := List(context.Background(), nil, base+"/tree", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := entryPaths(es); !slices.Equal(got, want) {
		t.Errorf("listing:\n got %q\nwant %q", got, want)
	}
	// Each URL is the file: the server wrote each file's path into it.
	for _, e := range es {
		if !strings.HasPrefix(e.URL, base+"/tree/") {
			t.Errorf("%q: URL %q not under the folder", e.Path, e.URL)
		}
		resp, err := http.Get(e.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := strings.Join(e.Path, "/"); err != nil || resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("GET %s: %s %q %v, want %q", e.URL, resp.Status, body, err, want)
		}
	}

	es, err = List(context.Background(), nil, base+"/loopy/", Options{Depth: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(entryPaths(es), " "), "f self|f self|self|f self|self|self|f"; got != want {
		t.Errorf("loop listing %q, want %q", got, want)
	}
}
