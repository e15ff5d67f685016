package control_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/control"
	"fsm/guard"
	"fsm/internal/folderlist"
	"fsm/store"
	"fsm/vfs"
	"fsm/webdav"
)

// dirOrigin serves a tree of files and, for every path ending in "/", an
// Apache-style index page of its children (sort links, a parent link, an
// off-site link and each name escaped as autoindex escapes it). The tree
// may change between requests.
type dirOrigin struct {
	srv *httptest.Server

	mu       sync.Mutex
	files    map[string][]byte   // by decoded path, "/pub/a b.txt"
	extra    map[string][]string // raw extra hrefs per index page
	pages    int                 // index pages served
	heads    map[string]int      // requests per file path
	inFlight int                 // file requests being answered
	maxIn    int                 // the most file requests answered at once
	auth     map[string]int      // requests by their Authorization header
}

var folderMTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newDirOrigin(t *testing.T, files map[string]string) *dirOrigin {
	t.Helper()
	o := &dirOrigin{files: map[string][]byte{}, extra: map[string][]string{}, heads: map[string]int{}, auth: map[string]int{}}
	for p, body := range files {
		o.files[p] = []byte(body)
	}
	o.srv = httptest.NewServer(o)
	t.Cleanup(o.srv.Close)
	return o
}

func (o *dirOrigin) set(p, body string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.files[p] = []byte(body)
}

func (o *dirOrigin) remove(p string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.files, p)
}

func (o *dirOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.auth[r.Header.Get("Authorization")]++
	o.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/") {
		o.index(w, r.URL.Path)
		return
	}
	o.mu.Lock()
	body, ok := o.files[r.URL.Path]
	o.heads[r.URL.Path]++
	o.inFlight++
	o.maxIn = max(o.maxIn, o.inFlight)
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.inFlight--
		o.mu.Unlock()
	}()
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, path.Base(r.URL.Path), folderMTime, bytes.NewReader(body))
}

func (o *dirOrigin) index(w http.ResponseWriter, dir string) {
	o.mu.Lock()
	o.pages++
	seen := map[string]bool{}
	var names []string
	for p := range o.files {
		rest, ok := strings.CutPrefix(p, dir)
		if !ok {
			continue
		}
		child, _, isDir := strings.Cut(rest, "/")
		if isDir {
			child += "/"
		}
		if !seen[child] {
			seen[child] = true
			names = append(names, child)
		}
	}
	extra := o.extra[dir]
	o.mu.Unlock()
	if len(names) == 0 && len(extra) == 0 {
		http.NotFound(w, nil)
		return
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "<html><head><title>Index of %s</title></head><body><h1>Index of %s</h1><pre>", html.EscapeString(dir), html.EscapeString(dir))
	b.WriteString(`<a href="?C=N;O=D">Name</a> <a href="?C=M;O=A">Last modified</a> <a href="?C=S;O=A">Size</a><hr>`)
	b.WriteString(`<a href="../">Parent Directory</a>` + "\n")
	for _, n := range names {
		href := url.PathEscape(strings.TrimSuffix(n, "/"))
		if strings.HasSuffix(n, "/") {
			href += "/"
		}
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>   02-Jan-2026 03:04    -\n", html.EscapeString(href), html.EscapeString(n))
	}
	for _, href := range extra {
		fmt.Fprintf(&b, "<a href=\"%s\">extra</a>\n", html.EscapeString(href))
	}
	b.WriteString(`<a href="https://elsewhere.example/pub/x.bin">mirror</a></pre></body></html>`)
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	fmt.Fprint(w, b.String())
}

// counts is what the origin did: index pages, file requests per path and
// the most file requests at once.
func (o *dirOrigin) counts() (pages int, heads map[string]int, maxIn int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pages, maps(o.heads), o.maxIn
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// folderEnv is the control API and WebDAV on one server, over a tree that
// stages folders, as fsm serve wires them.
type folderEnv struct {
	*env
}

func newFolderEnv(t *testing.T) *folderEnv {
	t.Helper()
	m, err := store.NewManager(store.Options{Dir: t.TempDir(), RetryBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fsys := vfs.New(vfs.Options{Manager: m, CloseTimeout: 5 * time.Second, List: folderlist.New(nil, nil)})
	t.Cleanup(func() {
		fsys.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("manager close: %v", err)
		}
	})
	ctl := control.New(control.Options{FS: fsys, Token: token, StageTimeout: 10 * time.Second, Tick: 20 * time.Millisecond})
	e := &env{fsys: fsys, ctl: ctl}
	e.srv = httptest.NewUnstartedServer(nil)
	mux := http.NewServeMux()
	mux.Handle(control.Prefix, ctl)
	mux.Handle("/", webdav.NewHandler(fsys, webdav.Options{}))
	e.srv.Config.Handler = guard.Host(mux, nil, e.srv.Listener.Addr().String())
	e.srv.Start()
	t.Cleanup(func() { ctl.Close(); e.srv.Close() })
	return &folderEnv{e}
}

// waitQueue waits for every queued staging to end.
func (e *folderEnv) waitQueue(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.fsys.WaitQueue(ctx); err != nil {
		t.Fatalf("staging queue: %v", err)
	}
}
