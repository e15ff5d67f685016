package index

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestListErrors(t *testing.T) {
	html := "text/html"
	five := `<a href="1">1</a><a href="2">2</a><a href="3">3</a><a href="4">4</a><a href="5">5</a>`
	s := newSite(t, map[string]resp{
		"/json/":      {contentType: "application/json", body: `{"files":["a"]}`},
		"/text/":      {body: "just text, no markup"},
		"/bad-type/":  {contentType: "text/html;;", body: `<a href="f">`},
		"/empty/":     {contentType: html, body: `<a href="../">Parent</a> <a href="?C=N;O=D">Name</a> <a href="https://elsewhere.example/">x</a>`},
		"/boom/":      {status: http.StatusInternalServerError, contentType: html, body: `<a href="f">`},
		"/sub-fails/": {contentType: html, body: `<a href="ok.bin">ok</a> <a href="bad/">bad</a>`},
		"/big/":       {contentType: html, body: strings.Repeat(" ", 2000) + `<a href="f">`},
		"/five/":      {contentType: html, body: five},
		"/pages/":     {contentType: html, body: `<a href="a/">a</a><a href="b/">b</a><a href="c/">c</a>`},
		"/pages/a/":   {contentType: html, body: `<a href="f">`},
		"/pages/b/":   {contentType: html, body: `<a href="f">`},
		"/pages/c/":   {contentType: html, body: `<a href="f">`},
		"/iso/":       {contentType: "application/octet-stream", body: strings.Repeat("\x00", 2000)},
		"/raw/":       {body: strings.Repeat("\x00", 2000)},
		"/gzip/":      {contentType: html, body: "\x1f\x8b", header: http.Header{"Content-Encoding": {"gzip"}}},
	})
	base := s.srv.URL
	tests := []struct {
		name string
		url  string
		o    Options
		is   error  // errors.Is target, or nil for a *StatusError
		code int    // the *StatusError's code
		msg  string // the whole message, with BASE for the origin
	}{
		{"not HTML", "/json/?token=secret", Options{}, ErrNotHTML, 0,
			"index BASE/json/?…: not an HTML page: Content-Type application/json"},
		{"sniffed not HTML", "/text/", Options{}, ErrNotHTML, 0,
			"index BASE/text/: not an HTML page: Content-Type text/plain"},
		{"bad Content-Type", "/bad-type/", Options{}, ErrNotHTML, 0,
			`index BASE/bad-type/: not an HTML page: Content-Type "text/html;;"`},
		{"links nothing under it", "/empty/?sig=secret", Options{}, ErrNoLinks, 0,
			"index BASE/empty/?…: links to nothing under it"},
		{"HTTP error", "/boom/?sig=secret", Options{}, nil, 500,
			"index BASE/boom/?…: HTTP 500 Internal Server Error"},
		{"not found", "/nowhere/", Options{}, nil, 404,
			"index BASE/nowhere/: HTTP 404 Not Found"},
		{"a sub-folder fails", "/sub-fails/", Options{}, nil, 404,
			"index BASE/sub-fails/bad/: HTTP 404 Not Found"},
		{"page too large", "/big/", Options{MaxPageBytes: 1000}, ErrTooLarge, 0,
			"index BASE/big/: page too large: over 1000 bytes"},
		{"too many files", "/five/?sig=secret", Options{MaxEntries: 4}, ErrTooMany, 0,
			"index BASE/five/: listing too large: more than 4 files"},
		{"too many pages", "/pages/", Options{MaxPages: 3}, ErrTooMany, 0,
			"index BASE/pages/: listing too large: more than 3 pages"},
		{"a big file, typed", "/iso/", Options{MaxPageBytes: 1000}, ErrNotHTML, 0,
			"index BASE/iso/: not an HTML page: Content-Type application/octet-stream"},
		{"a big file, sniffed", "/raw/", Options{MaxPageBytes: 1000}, ErrNotHTML, 0,
			"index BASE/raw/: not an HTML page: Content-Type application/octet-stream"},
		{"encoded anyway", "/gzip/", Options{}, nil, 0,
			`index BASE/gzip/: unasked-for Content-Encoding "gzip"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es, err := List(context.Background(), s.srv.Client(), base+tc.url, tc.o)
			if err == nil {
				t.Fatalf("no error, entries %q", entryPaths(es))
			}
			if want := strings.ReplaceAll(tc.msg, "BASE", base); err.Error() != want {
				t.Errorf("message\n got %q\nwant %q", err.Error(), want)
			}
			var pe *PageError
			if !errors.As(err, &pe) {
				t.Errorf("%T is not a *PageError", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			var se *StatusError
			if got := errors.As(err, &se); got != (tc.code != 0) || (got && se.Code != tc.code) {
				t.Errorf("status error %v, want code %d", se, tc.code)
			}
		})
	}
}

func TestListLimitsThatHold(t *testing.T) {
	html := "text/html"
	s := newSite(t, map[string]resp{
		"/five/":    {contentType: html, body: `<a href="1">1</a><a href="2">2</a><a href="3">3</a><a href="4">4</a><a href="5">5</a><a href="5">5</a>`},
		"/pages/":   {contentType: html, body: `<a href="a/">a</a><a href="b/">b</a>`},
		"/pages/a/": {contentType: html, body: `<a href="f">`},
		"/pages/b/": {contentType: html, body: ``}, // an empty sub-folder is no error
		"/exact/":   {contentType: html, body: strings.Repeat(" ", 1000-len(`<a href="f">`)) + `<a href="f">`},
	})
	tests := []struct {
		url  string
		o    Options
		want int
	}{
		{"/five/", Options{MaxEntries: 5}, 5}, // the duplicate does not count
		{"/pages/", Options{MaxPages: 3}, 1},
		{"/exact/", Options{MaxPageBytes: 1000}, 1},
	}
	for _, tc := range tests {
		es, err := List(context.Background(), s.srv.Client(), s.srv.URL+tc.url, tc.o)
		if err != nil || len(es) != tc.want {
			t.Errorf("%s %+v: %d entries, %v; want %d", tc.url, tc.o, len(es), err, tc.want)
		}
	}
}

func TestListDepth(t *testing.T) {
	html := "text/html"
	s := newSite(t, map[string]resp{
		"/d/":       {contentType: html, body: `<a href="0">0</a> <a href="a/">a</a>`},
		"/d/a/":     {contentType: html, body: `<a href="1">1</a> <a href="b/">b</a>`},
		"/d/a/b/":   {contentType: html, body: `<a href="2">2</a> <a href="c/">c</a>`},
		"/d/a/b/c/": {contentType: html, body: `<a href="3">3</a>`},
	})
	tests := []struct {
		depth int
		want  string
	}{
		{-1, "0"},
		{1, "0 a|1"},
		{2, "0 a|1 a|b|2"},
		{0, "0 a|1 a|b|2 a|b|c|3"}, // the default, 8
	}
	for _, tc := range tests {
		es, err := List(context.Background(), s.srv.Client(), s.srv.URL+"/d/", Options{Depth: tc.depth})
		if err != nil {
			t.Fatalf("depth %d: %v", tc.depth, err)
		}
		if got := strings.Join(entryPaths(es), " "); got != tc.want {
			t.Errorf("depth %d: got %q, want %q", tc.depth, got, tc.want)
		}
	}
}

// TestListCancel cancels the listing while the origin holds a sub-folder
// page: List returns the context's error, naming the page.
func TestListCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	s := newSite(t, map[string]resp{
		"/c/": {contentType: "text/html", body: `<a href="f">f</a> <a href="slow/">slow</a>`},
	})
	inner := s.srv.Config.Handler
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/c/slow/" {
			close(held)
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		inner.ServeHTTP(w, r)
	})
	go func() {
		<-held
		cancel()
	}()
	_, err := List(ctx, s.srv.Client(), s.srv.URL+"/c/?sig=secret", Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if want := fmt.Sprintf("index %s/c/slow/: context canceled", s.srv.URL); err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
}

func TestListBadURL(t *testing.T) {
	tests := []struct{ url, msg string }{
		{"ftp://h/pub/", "index ftp://h/pub/: not an http or https URL"},
		{"/pub/", "index /pub/: not an http or https URL"},
		{"http://[::1/?sig=secret", "index (unparsable URL): missing ']' in host"},
	}
	for _, tc := range tests {
		_, err := List(context.Background(), nil, tc.url, Options{})
		if err == nil || err.Error() != tc.msg {
			t.Errorf("%s: got %v, want %q", tc.url, err, tc.msg)
		}
	}
}

// TestListDefaultEntryLimit is the default bound at its edge: a page of
// 10,000 files lists, one of 10,001 fails.
func TestListDefaultEntryLimit(t *testing.T) {
	page := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "<a href=\"f%05d.bin\">f%05d.bin</a>\n", i, i)
		}
		return b.String()
	}
	s := newSite(t, map[string]resp{
		"/full/": {contentType: "text/html", body: page(DefaultMaxEntries)},
		"/over/": {contentType: "text/html", body: page(DefaultMaxEntries + 1)},
	})
	es, err := List(context.Background(), s.srv.Client(), s.srv.URL+"/full/", Options{})
	if err != nil || len(es) != DefaultMaxEntries {
		t.Errorf("full: %d entries, %v", len(es), err)
	}
	if _, err := List(context.Background(), s.srv.Client(), s.srv.URL+"/over/", Options{}); !errors.Is(err, ErrTooMany) {
		t.Errorf("over: %v, want ErrTooMany", err)
	}
}
