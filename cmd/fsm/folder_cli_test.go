package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// indexOrigin serves files and an nginx-style index page for every folder
// path, built from the files present at the time of the request.
type indexOrigin struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string]string // by decoded path; guarded by mu
}

func newIndexOrigin(t *testing.T, files map[string]string) *indexOrigin {
	o := &indexOrigin{files: files}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func (o *indexOrigin) set(p, body string) {
	o.mu.Lock()
	o.files[p] = body
	o.mu.Unlock()
}

func (o *indexOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if dir := r.URL.Path; strings.HasSuffix(dir, "/") {
		var links []string
		for p := range o.files {
			if rest, ok := strings.CutPrefix(p, dir); ok {
				child, _, isDir := strings.Cut(rest, "/")
				href := url.PathEscape(child)
				if isDir {
					href += "/"
				}
				if !slices.Contains(links, href) {
					links = append(links, href)
				}
			}
		}
		slices.Sort(links)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<html><body><h1>Index of %s</h1><hr><pre><a href=\"../\">../</a>\n", dir)
		for _, l := range links {
			fmt.Fprintf(w, "<a href=\"%s\">%s</a>  02-Jan-2026 03:04  1\n", l, l)
		}
		fmt.Fprint(w, "</pre><hr></body></html>")
		return
	}
	body, ok := o.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, path.Base(r.URL.Path), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), strings.NewReader(body))
}

// Stage a folder, list it, read an entry over WebDAV, refuse a plain
// unstage, refresh it after the origin adds a file, and unstage -r it, as
// a user would.
func TestCLIFolder(t *testing.T) {
	o := newIndexOrigin(t, map[string]string{
		"/pub/a.bin":           "alpha",
		"/pub/sub dir/b c.txt": "bravo charlie",
		"/pub/sub dir/ünï.txt": "unicode",
		"/elsewhere/x.bin":     "not linked",
	})
	e := newCLIEnv(t)
	s, addr := serveIn(t, e)

	r := e.fsm(t, addr, nil, "stage", "--folder", o.URL+"/pub/")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "staged folder pub: 3 files") {
		t.Fatalf("stage --folder:\n%s", r)
	}
	s.waitState(t, "pub", "staged")
	r = e.fsm(t, addr, nil, "ls")
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 5 {
		t.Fatalf("ls: want a heading, the folder and its 3 files:\n%s", r)
	}
	for i, cells := range [][]string{
		{"pub/ (3 files)", "25 B", "staged"},
		{"  a.bin", "5 B", "idle"},
		{"  sub dir/b c.txt", "13 B", "idle"},
		{"  sub dir/ünï.txt", "7 B", "idle"},
	} {
		for _, c := range cells {
			if !strings.Contains(lines[i+1], c) {
				t.Errorf("ls row %d lacks %q: %q", i+1, c, lines[i+1])
			}
		}
	}
	resp, body := get(t, s.url+"pub/sub%20dir/b%20c.txt")
	if resp.StatusCode != 200 || string(body) != "bravo charlie" {
		t.Fatalf("WebDAV GET: %s %q", resp.Status, body)
	}

	r = e.fsm(t, addr, nil, "unstage", "pub")
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, "is a folder") || !strings.Contains(line, "fsm unstage -r pub") {
		t.Fatalf("unstage of a folder:\n%s", r)
	}

	o.set("/pub/new.bin", "new one")
	r = e.fsm(t, addr, nil, "stage", "--folder", o.URL+"/pub/")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "staged folder pub: 4 files") {
		t.Fatalf("refresh:\n%s", r)
	}
	s.waitState(t, "pub", "staged")
	s.waitState(t, "pub/new.bin", "idle")

	r = e.fsm(t, addr, nil, "unstage", "-r", "pub")
	if r.code != 0 || r.stdout != "unstaged pub\n" {
		t.Fatalf("unstage -r:\n%s", r)
	}
	r = e.fsm(t, addr, nil, "ls")
	if r.code != 0 || !strings.Contains(r.stdout, "no files staged") {
		t.Fatalf("ls after unstage -r:\n%s", r)
	}

	r = e.fsm(t, addr, nil, "stage", "--folder", o.URL+"/pub/a.bin")
	if line := stderrLine(t, r); r.code != 1 || !strings.Contains(line, o.URL+"/pub/a.bin: not an HTML page") {
		t.Fatalf("stage --folder of a file:\n%s", r)
	}
	r = e.fsm(t, addr, nil, "stage", "--depth", "2", o.URL+"/pub/")
	if r.code != 2 || !strings.Contains(r.stderr, "--depth is for folders") {
		t.Fatalf("--depth without --folder:\n%s", r)
	}
}
