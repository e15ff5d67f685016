package webdav

import (
	"context"
	"encoding/xml"
	"fsm/internal/fsmtest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"fsm/internal/testorigin"
	"fsm/store"
	"fsm/vfs"
)

// env is a staged tree served by NewHandler on loopback.
type env struct {
	t       *testing.T
	origin  *testorigin.Origin
	content testorigin.Content
	m       *store.Manager
	fs      *vfs.FS
	srv     *httptest.Server
	logs    *syncBuffer
	handler http.Handler
	// exits receives one value each time a request handled by srv returns
	// (panics included), when track is set.
	exits chan string
}

type envOptions struct {
	origin testorigin.Options
	store  store.Options
	names  []string      // staged from the one origin; default "movie.mp4"
	stall  time.Duration // Options.StallTimeout
	track  bool          // report handler exits on env.exits
	wrap   func(http.Handler) http.Handler
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.origin.Content.Size == 0 {
		o.origin.Content = testorigin.Content{Seed: 7, Size: 3<<20 + 12345}
	}
	if len(o.names) == 0 {
		o.names = []string{"movie.mp4"}
	}
	e := &env{t: t, logs: &syncBuffer{}, exits: make(chan string, 128)}
	e.origin = testorigin.New(t, o.origin)
	e.content = o.origin.Content
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.store.Logger = log
	if o.store.RetryBudget == 0 {
		// A failing origin gives up quickly, so tests see the 502 with
		// its reason rather than the stall bound's 504.
		o.store.RetryBudget = 200 * time.Millisecond
	}
	if o.store.RetryBase == 0 {
		o.store.RetryBase = time.Millisecond
	}
	e.fs, e.m = fsmtest.Tree(t, o.store)
	for _, n := range o.names {
		if _, err := e.fs.Stage(context.Background(), vfs.Request{URL: e.origin.URL(), Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	h := NewHandler(e.fs, Options{Logger: log, StallTimeout: o.stall})
	if o.wrap != nil {
		h = o.wrap(h)
	}
	e.handler = h
	if o.track {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() { e.exits <- r.Method + " " + r.URL.Path }()
			inner.ServeHTTP(w, r)
		})
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

func (e *env) url(p string) string { return e.srv.URL + p }

// do sends one request and returns the response with its body read.
func (e *env) do(method, p string, hdr map[string]string, body string) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url(p), rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, p, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, p, err)
	}
	return resp, b
}

// file returns the staged file (its store's progress is the evidence of
// what the frontends did).
func (e *env) file(name string) *vfs.File {
	e.t.Helper()
	ent, ok := e.fs.Entry(name)
	if !ok || ent.File == nil {
		e.t.Fatalf("%s is not staged", name)
	}
	return ent.File
}

// originGETs is the number of content requests the origin saw.
func (e *env) originGETs() int { return e.origin.Count(http.MethodGet) }

type syncBuffer = fsmtest.Buffer

// needBinary skips the test when a client is missing, and fails it under CI.
func needBinary(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		_, err := exec.LookPath(n)
		fsmtest.Require(t, n, err)
	}
}

// multistatus is the subset of a 207 body the tests look at.
type multistatus struct {
	Responses []struct {
		Href     string `xml:"href"`
		Propstat []struct {
			Status string `xml:"status"`
			Prop   struct {
				Inner []struct {
					XMLName xml.Name
					Value   string `xml:",innerxml"`
				} `xml:",any"`
			} `xml:"prop"`
		} `xml:"propstat"`
	} `xml:"response"`
}

// props maps href → "status name" → value, e.g. props["/a"]["200 getetag"].
func parseMultistatus(t *testing.T, body []byte) map[string]map[string]string {
	t.Helper()
	var ms multistatus
	if err := xml.Unmarshal(body, &ms); err != nil {
		t.Fatalf("bad 207 body: %v\n%s", err, body)
	}
	out := make(map[string]map[string]string)
	for _, r := range ms.Responses {
		m := make(map[string]string)
		for _, ps := range r.Propstat {
			code := strings.Fields(ps.Status)
			if len(code) < 2 {
				t.Fatalf("bad status %q", ps.Status)
			}
			for _, p := range ps.Prop.Inner {
				m[code[1]+" "+p.XMLName.Local] = p.Value
			}
		}
		out[r.Href] = m
	}
	return out
}
