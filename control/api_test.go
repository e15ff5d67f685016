package control_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fsm/control"
	"fsm/control/api"
	"fsm/control/page"
	"fsm/guard"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
)

const token = "t0ken"

type env struct {
	srv  *httptest.Server
	fsys *vfs.FS
	ctl  *control.Server
}

func newEnv(t *testing.T, opts control.Options) *env {
	t.Helper()
	fsys, _ := fsmtest.Tree(t, store.Options{RetryBase: time.Millisecond})
	opts.FS, opts.Token = fsys, token
	if opts.StageTimeout == 0 {
		opts.StageTimeout = 10 * time.Second
	}
	if opts.Tick == 0 {
		opts.Tick = 20 * time.Millisecond
	}
	ctl := control.New(opts)
	e := &env{fsys: fsys, ctl: ctl}
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.Config.Handler = guard.Host(ctl, nil, e.srv.Listener.Addr().String())
	e.srv.Start()
	t.Cleanup(func() { ctl.Close(); e.srv.Close() })
	return e
}

type call struct {
	method, path, body string
	header             map[string]string
	noToken            bool
}

func (e *env) do(t *testing.T, c call) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(c.method, e.srv.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if !c.noToken {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range c.header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

type object struct {
	Name        string     `json:"name"`
	URL         string     `json:"url"`
	Size        *int64     `json:"size"`
	MTime       *time.Time `json:"mtime"`
	Downloaded  int64      `json:"downloaded"`
	OpenHandles int        `json:"open_handles"`
	State       string     `json:"state"`
	Error       string     `json:"error"`
	Verified    bool       `json:"verified"`
	Headers     []string   `json:"headers"`
	Paths       []string   `json:"paths"`
}

func TestStatuses(t *testing.T) {
	good := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 1000}, Name: "/a.bin"})
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer silent.Close()
	defer close(release)
	e := newEnv(t, control.Options{StageTimeout: 300 * time.Millisecond})
	stage := func(body string) call { return call{method: "POST", path: "/.fsm/api/v1/files", body: body} }
	if st, _, b := e.do(t, stage(`{"url":"`+good.URL()+`"}`)); st != 201 {
		t.Fatalf("stage: %d %s", st, b)
	}
	tests := []struct {
		name    string
		c       call
		status  int
		mention string
		code    string // of an error answer; "" for a success or the Host check's plain refusal
	}{
		{"list", call{method: "GET", path: "/.fsm/api/v1/files", noToken: true}, 200, `"a.bin"`, ""},
		{"one", call{method: "GET", path: "/.fsm/api/v1/files/a.bin", noToken: true}, 200, `"size":1000`, ""},
		{"missing file", call{method: "GET", path: "/.fsm/api/v1/files/nope.bin"}, 404, "not staged", "not_found"},
		{"bad JSON", stage(`{"url":`), 400, "bad JSON", "bad_request"},
		{"unknown field", stage(`{"url":"` + good.URL() + `","nmae":"x"}`), 400, "unknown field", "bad_request"},
		{"trailing data", stage(`{"url":"` + good.URL() + `"} {}`), 400, "after the object", "bad_request"},
		{"no url", stage(`{"name":"x"}`), 400, "url", "bad_url"},
		{"bad scheme", stage(`{"url":"ftp://h/x","name":"x"}`), 400, "http", "bad_url"},
		{"bad name", stage(`{"url":"` + good.URL() + `","name":"Thumbs.db/x"}`), 400, "probe", "bad_name"},
		{"bidi name", stage(`{"url":"` + good.URL() + `","name":"x\u202etxt.exe"}`), 400, "bidirectional", "bad_name"},
		{"bad header", stage(`{"url":"` + good.URL() + `","name":"h","headers":{"X-A":"a\r\nb"}}`), 400, "CR", "bad_request"},
		{"reserved header", stage(`{"url":"` + good.URL() + `","name":"h","headers":{"range":"bytes=0-"}}`), 400, "Range", "bad_request"},
		{"clash", stage(`{"url":"` + good.URL() + `"}`), 409, "another name", "name_taken"},
		{"too large", stage(`{"url":"` + strings.Repeat("x", 70<<10) + `"}`), 413, "over", "too_large"},
		{"origin refused", stage(`{"url":"` + missing.URL + `/f.bin"}`), 502, "404", "origin_refused"},
		{"origin silent", stage(`{"url":"` + silent.URL + `/f.bin"}`), 504, "", "origin_silent"},
		{"no token", call{method: "POST", path: "/.fsm/api/v1/files", body: `{"url":"` + good.URL() + `","name":"n"}`, noToken: true}, 401, "token", "unauthorized"},
		{"wrong token", call{method: "DELETE", path: "/.fsm/api/v1/files/a.bin", header: map[string]string{"Authorization": "Bearer nope"}}, 401, "token", "unauthorized"},
		{"foreign origin", call{method: "DELETE", path: "/.fsm/api/v1/files/a.bin", header: map[string]string{"Origin": "http://evil.example"}}, 403, "evil.example", "forbidden"},
		{"null origin", call{method: "DELETE", path: "/.fsm/api/v1/files/a.bin", header: map[string]string{"Origin": "null"}}, 403, "", "forbidden"},
		{"foreign host", call{method: "GET", path: "/.fsm/api/v1/files", header: map[string]string{"Host": "evil.example"}}, 403, "", ""},
		{"method", call{method: "PUT", path: "/.fsm/api/v1/files"}, 405, "allowed", "bad_method"},
		{"unknown endpoint", call{method: "GET", path: "/.fsm/api/v1/nothing"}, 404, "endpoint", "not_found"},
		{"unstage missing", call{method: "DELETE", path: "/.fsm/api/v1/files/nope.bin"}, 404, "not staged", "not_found"},
		{"info", call{method: "GET", path: "/.fsm/api/v1/info"}, 200, "webdav_url", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, h, b := e.do(t, tc.c)
			if st != tc.status || !strings.Contains(string(b), tc.mention) {
				t.Fatalf("%s %s: %d %s; want %d mentioning %q", tc.c.method, tc.c.path, st, b, tc.status, tc.mention)
			}
			if h.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("CORS header sent: %v", h)
			}
			if st >= 400 && tc.name != "foreign host" {
				var v struct{ Error, Code string }
				if err := json.Unmarshal(b, &v); err != nil || v.Error == "" || strings.Contains(v.Error, "\n") || v.Code != tc.code {
					t.Errorf("error body %q is not {\"error\": one line, \"code\": %q}", b, tc.code)
				}
			}
		})
	}
	// A same-origin mutation with the token works, and the file goes.
	if st, _, b := e.do(t, call{method: "DELETE", path: "/.fsm/api/v1/files/a.bin", header: map[string]string{"Origin": e.srv.URL}}); st != 204 {
		t.Fatalf("same-origin unstage: %d %s", st, b)
	}
	if len(e.fsys.Entries()) != 0 {
		t.Errorf("after unstage: %+v", e.fsys.Entries())
	}
}

// TestObject checks the file object: URL without its query, header names
// only, folder names through the path, local paths under the mounts.
func TestObject(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 5000}, Name: "/x.bin", NoETag: true, NoLastModified: true})
	e := newEnv(t, control.Options{Mounts: func() []control.Mount { return []control.Mount{{Kind: control.MountFUSE, Dir: "/mnt/f"}} }})
	st, _, b := e.do(t, call{method: "POST", path: "/.fsm/api/v1/files", body: `{"url":"` + o.URL() + `?sig=SECRET","name":"dir/one two.bin","headers":{"authorization":"Bearer HIDDEN"}}`})
	if st != 201 || strings.Contains(string(b), "SECRET") || strings.Contains(string(b), "HIDDEN") {
		t.Fatalf("stage: %d %s", st, b)
	}
	reqs := o.Requests()
	if len(reqs) == 0 || reqs[0].Header.Get("Authorization") != "Bearer HIDDEN" {
		t.Errorf("the staging header did not reach the origin: %+v", reqs)
	}
	var obj object
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Name != "dir/one two.bin" || obj.State != "idle" || obj.Size == nil || *obj.Size != 5000 || obj.MTime == nil ||
		obj.Verified || len(obj.Headers) != 1 || obj.Headers[0] != "Authorization" ||
		len(obj.Paths) != 1 || obj.Paths[0] != "/mnt/f/dir/one two.bin" || strings.Contains(obj.URL, "?sig") {
		t.Fatalf("object %+v", obj)
	}
	if st, _, b := e.do(t, call{method: "GET", path: "/.fsm/api/v1/files/dir/one%20two.bin"}); st != 200 || !strings.Contains(string(b), `"name":"dir/one two.bin"`) {
		t.Fatalf("get by escaped path: %d %s", st, b)
	}
}

// TestEventsStream: the stream starts with every file, then delivers a
// change (a staged file, its download completing, its removal) within a
// second, and ends when the server closes it.
func TestEventsStream(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 3, Size: 64 << 10}, Name: "/e.bin"})
	e := newEnv(t, control.Options{})
	if _, err := e.fsys.Stage(context.Background(), vfs.Request{URL: o.URL(), Name: "first.bin"}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(e.srv.URL + "/.fsm/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	type ev struct{ kind, data string }
	evs := make(chan ev, 100)
	go func() {
		defer close(evs)
		sc := bufio.NewScanner(resp.Body)
		var kind string
		for sc.Scan() {
			line := sc.Text()
			if k, ok := strings.CutPrefix(line, "event: "); ok {
				kind = k
			} else if d, ok := strings.CutPrefix(line, "data: "); ok {
				evs <- ev{kind, d}
			}
		}
	}()
	next := func(want func(ev) bool, what string) {
		t.Helper()
		timeout := time.After(time.Second)
		for {
			select {
			case v, ok := <-evs:
				if !ok {
					t.Fatalf("stream ended waiting for %s", what)
				}
				if want(v) {
					return
				}
			case <-timeout:
				t.Fatalf("no event for %s within a second", what)
			}
		}
	}
	next(func(v ev) bool { return v.kind == "file" && strings.Contains(v.data, `"first.bin"`) }, "the initial snapshot")
	if _, err := e.fsys.Stage(context.Background(), vfs.Request{URL: o.URL(), Name: "second.bin"}); err != nil {
		t.Fatal(err)
	}
	next(func(v ev) bool { return v.kind == "file" && strings.Contains(v.data, `"second.bin"`) }, "a new file")
	h, err := e.fsys.Open("second.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ReadAt(context.Background(), make([]byte, 10), 0); err != nil {
		t.Fatal(err)
	}
	next(func(v ev) bool {
		return v.kind == "file" && strings.Contains(v.data, `"second.bin"`) && strings.Contains(v.data, `"open_handles":1`)
	}, "an open handle")
	h.Close()
	if err := e.fsys.Unstage(context.Background(), "first.bin"); err != nil {
		t.Fatal(err)
	}
	next(func(v ev) bool { return v.kind == "removed" && v.data == `{"name":"first.bin"}` }, "a removal")
	e.ctl.Close()
	for range evs {
	}
}

// TestRestageAfterChange: a file whose origin changed fails with a message
// that says to unstage and stage it again, and doing so through the API
// serves the new version without a restart.
func TestRestageAfterChange(t *testing.T) {
	size := int64(3 << 20)
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 10, Size: size}, Name: "/v.bin"})
	e := newEnv(t, control.Options{})
	stage := call{method: "POST", path: "/.fsm/api/v1/files", body: `{"url":"` + o.URL() + `"}`}
	if st, _, b := e.do(t, stage); st != 201 {
		t.Fatalf("stage: %d %s", st, b)
	}
	o.Change()
	h, err := e.fsys.Open("v.bin")
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.ReadAt(context.Background(), make([]byte, 1<<20), 0)
	h.Close()
	if !errors.Is(err, store.ErrChanged) {
		t.Fatalf("read after the origin changed: %v, want ErrChanged", err)
	}
	var obj object
	fsmtest.Eventually(t, "state failed", func() bool {
		_, _, b := e.do(t, call{method: "GET", path: "/.fsm/api/v1/files/v.bin"})
		obj = object{}
		json.Unmarshal(b, &obj)
		return obj.State == "failed"
	})
	if !strings.Contains(obj.Error, "stage it again") {
		t.Errorf("error %q does not say how to fix it", obj.Error)
	}
	if st, _, b := e.do(t, call{method: "DELETE", path: "/.fsm/api/v1/files/v.bin"}); st != 204 {
		t.Fatalf("unstage: %d %s", st, b)
	}
	if st, _, b := e.do(t, stage); st != 201 {
		t.Fatalf("stage again: %d %s", st, b)
	}
	h, err = e.fsys.Open("v.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	got := make([]byte, size)
	if _, err := h.ReadAt(context.Background(), got, 0); err != nil {
		t.Fatal(err)
	}
	now, _, _ := o.Version()
	if !bytes.Equal(got, now.Bytes(0, size)) {
		t.Fatal("after staging again the bytes are not the new version's")
	}
}

// TestTokenHeader: with basic auth in front, Authorization holds the
// password and the token travels in X-Fsm-Token.
func TestTokenHeader(t *testing.T) {
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}, Name: "/t.bin"})
	fsys, _ := fsmtest.Tree(t, store.Options{})
	ctl := control.New(control.Options{FS: fsys, Token: token})
	srv := httptest.NewServer(guard.BasicAuth(ctl, "me", "pw", "fsm"))
	defer srv.Close()
	defer ctl.Close()
	post := func(hdr map[string]string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/.fsm/api/v1/files", strings.NewReader(`{"url":"`+o.URL()+`"}`))
		req.SetBasicAuth("me", "pw")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(nil); st != 401 {
		t.Errorf("basic auth without a token: %d, want 401", st)
	}
	if st := post(map[string]string{api.TokenHeader: "wrong"}); st != 401 {
		t.Errorf("wrong token header: %d, want 401", st)
	}
	if st := post(map[string]string{api.TokenHeader: token}); st != 201 {
		t.Errorf("token header: %d, want 201", st)
	}
}

// TestAPIBaseUnderPrefix: the API's base path, spelled once in control/api,
// lies under the control surface's prefix, and the page tells its script
// that same path.
func TestAPIBaseUnderPrefix(t *testing.T) {
	if !strings.HasPrefix(api.Base, control.Prefix) || !strings.HasSuffix(api.Base, "/") {
		t.Fatalf("api.Base %q is not a folder under control.Prefix %q", api.Base, control.Prefix)
	}
	rec := httptest.NewRecorder()
	page.Handler(token).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if want := `<meta name="fsm-api" content="` + api.Base + `">`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("the page does not carry %s:\n%s", want, rec.Body)
	}
}
