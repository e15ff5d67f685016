package answer_test

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fsm/control"
	"fsm/control/api"
	"fsm/internal/answer"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
	"fsm/webdav"
)

const token = "t0ken"

// frontends is one tree served by the real control API and the real WebDAV
// handler, routed as fsm serve routes them.
type frontends struct {
	fsys *vfs.FS
	srv  *httptest.Server
}

func newFrontends(t *testing.T, so store.Options) *frontends {
	t.Helper()
	so.RetryBase = time.Millisecond
	if so.RetryBudget == 0 {
		so.RetryBudget = 200 * time.Millisecond // a failing origin gives up before the stall bound
	}
	so.Logger = fsmtest.Logger(t)
	fsys, _ := fsmtest.Tree(t, so)
	ctl := control.New(control.Options{FS: fsys, Token: token, StageTimeout: 300 * time.Millisecond, Logger: so.Logger})
	dav := webdav.NewHandler(fsys, webdav.Options{StallTimeout: 300 * time.Millisecond, Logger: so.Logger})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, control.Prefix) {
			ctl.ServeHTTP(w, r)
			return
		}
		dav.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { ctl.Close(); srv.Close() })
	return &frontends{fsys: fsys, srv: srv}
}

// call sends one request and returns the status and body.
func (f *frontends) call(t *testing.T, method, path string, body string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// stage is POST files with a JSON body of url and name.
func (f *frontends) stage(t *testing.T, url, name string) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(api.StageRequest{URL: url, Name: name})
	return f.call(t, http.MethodPost, api.Base+api.PathFiles, string(b), nil)
}

func (f *frontends) mustStage(t *testing.T, url, name string) {
	t.Helper()
	if st, b := f.stage(t, url, name); st != http.StatusCreated {
		t.Fatalf("stage %s as %s: %d %s", url, name, st, b)
	}
}

// silentOrigin accepts requests and never answers them; each arrival is
// sent on the channel.
func silentOrigin(t *testing.T) (*httptest.Server, <-chan struct{}) {
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); s.Close() })
	return s, arrived
}

func small(t *testing.T, o testorigin.Options) *testorigin.Origin {
	if o.Content.Size == 0 {
		o.Content = testorigin.Content{Seed: 3, Size: 1 << 20}
	}
	return testorigin.New(t, o)
}

// TestOneTableBothFrontends provokes each sentinel for real through the
// control API and through WebDAV, wherever that frontend can meet it, and
// checks that both answer the status answer.For gives it (and the API its
// code). A frontend that cannot meet a sentinel says why. ErrNoSpace needs a
// full disk; TestFor covers it.
func TestOneTableBothFrontends(t *testing.T) {
	type provoke func(t *testing.T) (status int, body []byte)
	rows := []struct {
		name     string
		sentinel error
		api      provoke // nil: the API cannot meet it (apiNA says why)
		apiNA    string
		dav      provoke // nil: WebDAV cannot meet it (davNA says why)
		davNA    string
	}{
		{
			name: "origin refused", sentinel: &store.StatusError{Code: 404},
			api: func(t *testing.T) (int, []byte) {
				f, o := newFrontends(t, store.Options{}), small(t, testorigin.Options{})
				return f.stage(t, o.Server.URL+"/gone.bin", "")
			},
			dav: func(t *testing.T) (int, []byte) {
				f, o := newFrontends(t, store.Options{}), small(t, testorigin.Options{FailCount: 1 << 20, FailStatus: http.StatusForbidden})
				f.mustStage(t, o.URL(), "f.bin")
				return f.call(t, http.MethodGet, "/f.bin", "", nil)
			},
		},
		{
			name: "origin silent", sentinel: store.ErrNoAnswer,
			api: func(t *testing.T) (int, []byte) {
				f := newFrontends(t, store.Options{})
				silent, _ := silentOrigin(t)
				return f.stage(t, silent.URL+"/f.bin", "")
			},
			dav: func(t *testing.T) (int, []byte) {
				f, o := newFrontends(t, store.Options{}), small(t, testorigin.Options{})
				f.mustStage(t, o.URL(), "f.bin")
				defer o.Block()()
				return f.call(t, http.MethodGet, "/f.bin", "", nil)
			},
		},
		{
			name: "origin changed", sentinel: store.ErrChanged,
			apiNA: "staging reads no bytes, so it never finds a changed file",
			dav: func(t *testing.T) (int, []byte) {
				f := newFrontends(t, store.Options{ChunkSize: 64 << 10, DemandChunk: 64 << 10, NearWindow: 64 << 10, Connections: 1, MaxFetchers: 1})
				o := small(t, testorigin.Options{Content: testorigin.Content{Seed: 4, Size: 3 << 20}, ChangeAfter: 64 << 10})
				f.mustStage(t, o.URL(), "f.bin")
				if st, b := f.call(t, http.MethodGet, "/f.bin", "", map[string]string{"Range": "bytes=0-99"}); st != http.StatusPartialContent {
					t.Fatalf("read before the change: %d %s", st, b)
				}
				return f.call(t, http.MethodGet, "/f.bin", "", map[string]string{"Range": "bytes=2000000-2000099"})
			},
		},
		{
			name: "shutting down", sentinel: store.ErrClosed,
			api: func(t *testing.T) (int, []byte) {
				f, o := newFrontends(t, store.Options{}), small(t, testorigin.Options{})
				f.fsys.Close()
				return f.stage(t, o.URL(), "f.bin")
			},
			// Close lets open handles finish before it closes the
			// stores, and a closed tree lists nothing: a GET cannot meet
			// ErrClosed from outside (TestFor has WebDAV's mapping).
			davNA: "no GET sees the shutdown",
		},
		{
			name: "not staged", sentinel: fs.ErrNotExist,
			api: func(t *testing.T) (int, []byte) {
				return newFrontends(t, store.Options{}).call(t, http.MethodDelete, api.Base+api.FilePath("nope.bin"), "", nil)
			},
			dav: func(t *testing.T) (int, []byte) {
				return newFrontends(t, store.Options{}).call(t, http.MethodGet, "/nope.bin", "", nil)
			},
		},
		{
			name: "name taken", sentinel: vfs.ErrNameTaken,
			api: func(t *testing.T) (int, []byte) {
				f, o := newFrontends(t, store.Options{}), small(t, testorigin.Options{})
				f.mustStage(t, o.URL(), "")
				return f.stage(t, o.URL(), "")
			},
			davNA: "WebDAV never stages",
		},
		{
			// Unstaging a name whose probe is out ends that staging, whose
			// request is then told so.
			name: "unstaged while being staged", sentinel: vfs.ErrUnstaged,
			api: func(t *testing.T) (int, []byte) {
				f := newFrontends(t, store.Options{})
				silent, arrived := silentOrigin(t)
				type answer struct {
					st int
					b  []byte
				}
				done := make(chan answer, 1)
				go func() {
					st, b := f.stage(t, silent.URL+"/f.bin", "")
					done <- answer{st, b}
				}()
				<-arrived // the probe is out: the name is reserved
				if st, b := f.call(t, http.MethodDelete, api.Base+api.FilePath("f.bin"), "", nil); st != http.StatusNoContent {
					t.Errorf("unstage while probing: %d %s", st, b)
				}
				a := <-done
				return a.st, a.b
			},
			davNA: "WebDAV never unstages",
		},
		{
			name: "no name", sentinel: vfs.ErrNoName,
			api: func(t *testing.T) (int, []byte) {
				f, o := newFrontends(t, store.Options{}), small(t, testorigin.Options{Name: "/dir/"})
				return f.stage(t, o.URL(), "")
			},
			davNA: "WebDAV never stages",
		},
		{
			name: "bad name", sentinel: vfs.ErrBadName,
			api: func(t *testing.T) (int, []byte) {
				f, o := newFrontends(t, store.Options{}), small(t, testorigin.Options{})
				return f.stage(t, o.URL(), "Thumbs.db/x")
			},
			davNA: "WebDAV never stages",
		},
		{
			name: "bad URL", sentinel: store.ErrBadURL,
			api: func(t *testing.T) (int, []byte) {
				return newFrontends(t, store.Options{}).stage(t, "ftp://h/x", "x")
			},
			davNA: "WebDAV never stages",
		},
	}
	for _, row := range rows {
		want := answer.For(row.sentinel)
		if row.api == nil && row.apiNA == "" || row.dav == nil && row.davNA == "" {
			t.Fatalf("%s: a frontend without a provocation says why it has none", row.name)
		}
		if row.api != nil {
			t.Run(row.name+"/api", func(t *testing.T) {
				st, b := row.api(t)
				var e api.Error
				if err := json.Unmarshal(b, &e); err != nil || st != want.Status || e.Code != want.Code || e.Error == "" {
					t.Fatalf("API answered %d %s; want %d with code %q", st, b, want.Status, want.Code)
				}
			})
		}
		if row.dav != nil {
			t.Run(row.name+"/webdav", func(t *testing.T) {
				st, b := row.dav(t)
				if st != want.Status || bytes.Count(b, []byte("\n")) != 1 {
					t.Fatalf("WebDAV answered %d %q; want %d with one line", st, b, want.Status)
				}
			})
		}
	}
}
