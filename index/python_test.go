package index

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fsm/internal/fsmtest"
)

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

	base := fsmtest.PythonHTTPServer(t, dir)
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
