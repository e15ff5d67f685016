package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fsm/internal/fsmtest"
)

// A folder served by Python's http.server stages through the real binary:
// nested, spaced and unicode names, each readable over WebDAV.
func TestCLIFolderPythonHTTPServer(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"media/plain.txt":           "plain",
		"media/space name.txt":      "spaced",
		"media/sub/ünïcode ♪.bin":   "unicode",
		"media/sub/deeper/100%.txt": "percent",
	}
	for p, body := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := fsmtest.PythonHTTPServer(t, dir)
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)
	r := e.fsm(t, addr, nil, "stage", "--folder", base+"/media/", "--name", "py")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "staged folder py: 4 files") {
		t.Fatalf("stage --folder:\n%s", r)
	}
	s.waitState(t, "py", "staged")
	for p, body := range files {
		name := "py/" + strings.TrimPrefix(p, "media/")
		elems := strings.Split(name, "/")
		for i, el := range elems {
			elems[i] = url.PathEscape(el)
		}
		resp, got := get(t, s.url+strings.Join(elems, "/"))
		if resp.StatusCode != 200 || string(got) != body {
			t.Errorf("WebDAV GET %s: %s %q, want %q", name, resp.Status, got, body)
		}
	}
}
