package index

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestListParallel holds each sub-folder page until all three have been
// asked for, which only a walk fetching three at once gets past; a walk
// that fetched them one by one would see the origin give up with 503.
func TestListParallel(t *testing.T) {
	const n = 3
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	s := newSite(t, map[string]resp{
		"/p/":   {contentType: "text/html", body: `<a href="a/">a</a> <a href="b/">b</a> <a href="c/">c</a> <a href="d/">d</a>`},
		"/p/d/": {contentType: "text/html", body: `<a href="4">`},
	})
	inner := s.srv.Config.Handler
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/p/"), "/")
		if len(name) != 1 || name == "d" {
			inner.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(10 * time.Second): // a bound, not an ordering: the barrier was never reached
			http.Error(w, "the other pages never came", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<a href="` + name + `1">x</a>`))
	})
	es, err := List(context.Background(), s.srv.Client(), s.srv.URL+"/p/", Options{Parallel: n})
	if err != nil {
		t.Fatal(err)
	}
	// d/ was in the second batch; the listing is in path order regardless.
	if got, want := strings.Join(entryPaths(es), " "), "a|a1 b|b1 c|c1 d|4"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestListParallelErrorOrder fails two sub-folders of one batch, the
// second one first: the error is the first in link order regardless.
func TestListParallelErrorOrder(t *testing.T) {
	bDone := make(chan struct{})
	s := newSite(t, map[string]resp{
		"/p/":   {contentType: "text/html", body: `<a href="a/">a</a> <a href="b/">b</a>`},
		"/p/b/": {status: http.StatusGone, contentType: "text/html"},
	})
	inner := s.srv.Config.Handler
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/p/a/" {
			select {
			case <-bDone: // b/'s answer is in the walker's hands
			case <-time.After(10 * time.Second): // a bound, not an ordering
			}
			http.Error(w, "a", http.StatusForbidden)
			return
		}
		inner.ServeHTTP(w, r)
	})
	client := s.srv.Client()
	doer := doerFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := client.Do(r)
		if r.URL.Path == "/p/b/" {
			close(bDone)
		}
		return resp, err
	})
	_, err := List(context.Background(), doer, s.srv.URL+"/p/", Options{Parallel: 2})
	if want := "index " + s.srv.URL + "/p/a/: HTTP 403 Forbidden"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
