package store

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/internal/redact"
	"fsm/internal/testorigin"
)

func TestProbeLearns(t *testing.T) {
	lm := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	c := testorigin.Content{Seed: 61, Size: 300_001}
	tests := []struct {
		name      string
		oo        testorigin.Options
		redirect  bool
		wantName  string
		wantSize  int64
		noRange   bool
		wantGETs  int
		wantHEADs int
	}{
		{"HEAD says it all", testorigin.Options{Name: "/a/movie one.mkv"}, false, "movie one.mkv", c.Size, false, 0, 1},
		{"content disposition", testorigin.Options{Name: "/dl", ContentDisposition: `attachment; filename="r.pdf"`}, false, "r.pdf", c.Size, false, 0, 1},
		{"no HEAD: one-byte GET", testorigin.Options{NoHEAD: true}, false, "file.bin", c.Size, false, 1, 1},
		{"ignores Range", testorigin.Options{IgnoreRange: true}, false, "file.bin", c.Size, true, 1, 1},
		{"no size anywhere", testorigin.Options{IgnoreRange: true, NoContentLength: true}, false, "file.bin", -1, true, 1, 1},
		{"redirect", testorigin.Options{Name: "/final.iso", RedirectFrom: "/start"}, true, "final.iso", c.Size, false, 0, 2},
		{"trailing slash: no name", testorigin.Options{Name: "/d/"}, false, "", c.Size, false, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oo := tc.oo
			oo.Content, oo.LastModified = c, lm
			e := newEnv(t, oo, fastOpts())
			u := strings.ReplaceAll(e.o.URL(), " ", "%20")
			if tc.redirect {
				u = e.o.RedirectURL()
			}
			r, err := e.m.Probe(context.Background(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != tc.wantName || r.Size != tc.wantSize || r.NoRange != tc.noRange || !r.LastModified.Equal(lm) {
				t.Fatalf("probe: %+v, want name %q size %d noRange %v", r, tc.wantName, tc.wantSize, tc.noRange)
			}
			if r.URL != strings.ReplaceAll(e.o.URL(), " ", "%20") {
				t.Errorf("URL %q, want the final %q", r.URL, e.o.URL())
			}
			if g, h := e.o.Count(http.MethodGet), e.o.Count(http.MethodHead); g != tc.wantGETs || h != tc.wantHEADs {
				t.Errorf("%d GETs and %d HEADs, want %d and %d", g, h, tc.wantGETs, tc.wantHEADs)
			}
			// An origin that ignores Range is sent a GET whose 200 is
			// closed unread; what it wrote into socket buffers meanwhile
			// is not a download.
			if sent := e.o.BytesServed(); !tc.noRange && sent > 1 {
				t.Errorf("probe downloaded %d body bytes", sent)
			}
		})
	}
}

// TestProbeErrors: each failure has its type, and its message names the
// URL once, without its query.
func TestProbeErrors(t *testing.T) {
	c := testorigin.Content{Seed: 62, Size: 1000}
	so := fastOpts()
	so.StallTimeout = 50 * time.Millisecond
	e := newEnv(t, testorigin.Options{Content: c}, so)
	stalled := testorigin.New(t, testorigin.Options{Content: c, FirstByteDelay: time.Hour})
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/f.bin?sig=SECRET"
	down.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		url     string
		is      error
		code    int
		mention string
	}{
		{"ftp://h.example/f?sig=SECRET", ErrBadURL, 0, "only http"},
		{"http:///f?sig=SECRET", ErrBadURL, 0, "no host"},
		{"http://[::1/f?sig=SECRET", ErrBadURL, 0, ""},
		{e.o.Server.URL + "/missing?sig=SECRET", nil, 404, "404"},
		{downURL, ErrNoAnswer, 0, ""},
		{stalled.URL() + "?sig=SECRET", ErrNoAnswer, 0, "sent nothing"},
	} {
		_, err := e.m.Probe(ctx, tc.url, nil)
		if err == nil {
			t.Errorf("%s: no error", tc.url)
			continue
		}
		msg := err.Error()
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want %v", tc.url, err, tc.is)
		}
		var se *StatusError
		if tc.code != 0 && (!errors.As(err, &se) || se.Code != tc.code) {
			t.Errorf("%s: %v, want a *StatusError %d", tc.url, err, tc.code)
		}
		if !strings.Contains(msg, tc.mention) || strings.Contains(msg, "SECRET") {
			t.Errorf("%s: %q should mention %q and not the query", tc.url, msg, tc.mention)
		}
		if u := redact.URL(tc.url); strings.Count(msg, u) != 1 {
			t.Errorf("%s: %q names %s %d times, want once", tc.url, msg, u, strings.Count(msg, u))
		}
	}
}

// recorder is a redirecting front server that logs the headers it got.
type recorder struct {
	mu   sync.Mutex
	seen []http.Header
}

func (r *recorder) add(h http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, h.Clone())
}

func (r *recorder) all() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.seen...)
}

// TestSourceHeader: a source's own headers go to the staged URL and its
// same-host redirects on every request, never to another host, and again
// to the staged URL when an expired redirect target is resolved anew.
func TestSourceHeader(t *testing.T) {
	c := testorigin.Content{Seed: 63, Size: 200_000}
	so := fastOpts()
	so.Connections, so.MaxFetchers = 1, 1
	hdr := http.Header{"Authorization": {"Bearer T0KEN"}, "X-Custom": {"c"}}
	has := func(h http.Header) bool {
		return h.Get("Authorization") == "Bearer T0KEN" && h.Get("X-Custom") == "c"
	}
	hasNone := func(h http.Header) bool { return h.Get("Authorization") == "" && h.Get("X-Custom") == "" }

	t.Run("same host", func(t *testing.T) {
		e := newEnv(t, testorigin.Options{Content: c, RedirectFrom: "/go"}, so)
		r, err := e.m.Probe(context.Background(), e.o.RedirectURL(), hdr)
		must(t, err)
		s, err := e.m.Stage(context.Background(), Source{Name: "f", URL: e.o.RedirectURL(), Header: hdr}, r, nil)
		must(t, err)
		checkRead(t, s, c, 0, c.Size)
		for _, q := range e.o.Requests() {
			if !has(q.Header) {
				t.Fatalf("%s %s without the source's headers: %v", q.Method, q.Path, q.Header)
			}
		}
	})

	t.Run("other host", func(t *testing.T) {
		e := newEnv(t, testorigin.Options{Content: c, FailStatus: http.StatusForbidden}, so)
		var front recorder
		fs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			front.add(r.Header)
			http.Redirect(w, r, e.o.URL(), http.StatusFound)
		}))
		t.Cleanup(fs.Close)
		r, err := e.m.Probe(context.Background(), fs.URL+"/f", hdr)
		must(t, err)
		s, err := e.m.Stage(context.Background(), Source{Name: "f", URL: fs.URL + "/f", Header: hdr}, r, nil)
		must(t, err)
		checkRead(t, s, c, 0, 1000)
		// The target now refuses (an expired signature): the store goes
		// back to the staged URL, with the headers, and on to the target
		// without them.
		eventually(t, "complete", func() bool { return s.Progress().State == StateComplete })
		if s.evict() == 0 { // the next read fetches again
			t.Fatal("evict refused")
		}
		e.o.SetFailCount(1)
		fails := front.all()
		checkRead(t, s, c, 0, c.Size)
		if n := len(front.all()); n <= len(fails) {
			t.Fatalf("the staged URL was not asked again after the target refused (%d requests before, %d after)", len(fails), n)
		}
		for i, h := range front.all() {
			if !has(h) {
				t.Fatalf("request %d to the staged URL without the headers: %v", i, h)
			}
		}
		for _, q := range e.o.Requests() {
			if !hasNone(q.Header) {
				t.Fatalf("%s to another host carried the source's headers: %v", q.Method, q.Header)
			}
		}
	})

	t.Run("unknown size", func(t *testing.T) {
		e := newEnv(t, testorigin.Options{Content: c, IgnoreRange: true, NoContentLength: true}, so)
		r, err := e.m.Probe(context.Background(), e.o.URL(), hdr)
		must(t, err)
		s, err := e.m.Stage(context.Background(), Source{Name: "f", URL: e.o.URL(), Header: hdr}, r, nil)
		must(t, err)
		if s.Size() != c.Size {
			t.Fatalf("size %d, want %d", s.Size(), c.Size)
		}
		checkRead(t, s, c, 0, c.Size)
		for _, q := range e.o.Requests() {
			if !has(q.Header) {
				t.Fatalf("%s without the source's headers", q.Method)
			}
		}
	})
}

// TestOriginStatusLineIsOneSafeLine: an origin's reason phrase reaches
// logs, the API and terminals; escape sequences in it are escaped.
func TestOriginStatusLineIsOneSafeLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, "HTTP/1.1 403 \x1b]0;pwned\x07\x1b[2J"+strings.Repeat("x", 300)+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			}()
		}
	}()
	e := newEnv(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}}, fastOpts())
	_, err = e.m.Probe(context.Background(), "http://"+ln.Addr().String()+"/f.bin", nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Fatalf("probe: %v, want the origin's 403", err)
	}
	if strings.ContainsAny(err.Error(), "\x1b\x07") || len(se.Status) > 110 {
		t.Errorf("the origin's status line reaches the error raw or unbounded: %q", err)
	}
	if !strings.Contains(se.Status, `\x1b]0;pwned`) {
		t.Errorf("status %q: want the escape shown as text", se.Status)
	}
}
