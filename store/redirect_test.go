package store

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"fsm/internal/testorigin"
)

// TestRedirectToPlainHTTPRefused: an https source that redirects to plain
// http fails at once, saying so, and the plain-http origin hears nothing:
// neither the staged headers nor the next hop's URL cross in clear text.
func TestRedirectToPlainHTTPRefused(t *testing.T) {
	var plain recorder
	plainSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plain.add(r.Header)
		w.Header().Set("Content-Length", "10")
	}))
	t.Cleanup(plainSrv.Close)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plainSrv.URL+"/f.bin?sig=SECRET", http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)

	so := fastOpts()
	so.Client = tlsSrv.Client()
	e := newEnv(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}}, so)
	hdr := http.Header{"Authorization": {"Bearer T0KEN"}, "Cookie": {"c=1"}, "X-Api-Key": {"k"}}
	_, err := e.m.Probe(context.Background(), tlsSrv.URL+"/f.bin", hdr)
	if !errors.Is(err, ErrDowngrade) {
		t.Fatalf("probe through an https -> http redirect: %v, want ErrDowngrade", err)
	}
	if retriable(err) {
		t.Errorf("a downgrade is retried: %v", err)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("the error names the target's query: %v", err)
	}
	if got := plain.all(); len(got) != 0 {
		t.Errorf("the plain-http origin got %d requests: %v", len(got), got)
	}
}

// TestRedirectSendsNoReferer: Go's client would send the signed staged URL
// as Referer to the redirect target on another host.
func TestRedirectSendsNoReferer(t *testing.T) {
	var target recorder
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 2, Size: 4096}})
	targetSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target.add(r.Header)
		o.ServeHTTP(w, r)
	}))
	t.Cleanup(targetSrv.Close)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, targetSrv.URL+"/file.bin", http.StatusFound)
	}))
	t.Cleanup(front.Close)
	e := newEnv(t, testorigin.Options{Content: testorigin.Content{Seed: 2, Size: 4096}}, fastOpts())
	r, err := e.m.Probe(context.Background(), front.URL+"/start?sig=SECRET", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size != 4096 {
		t.Fatalf("probe through the redirect: size %d", r.Size)
	}
	got := target.all()
	if len(got) == 0 {
		t.Fatal("the redirect target got no request")
	}
	for _, h := range got {
		if ref := h.Get("Referer"); ref != "" {
			t.Errorf("the redirect target got Referer %q", ref)
		}
	}
}

// TestUnparsableLocationRedacted: net/http quotes a bad Location whole in
// its error; fsm's error must not carry the query it holds.
func TestUnparsableLocationRedacted(t *testing.T) {
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://[::1/%zz?sig=SECRET")
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(front.Close)
	e := newEnv(t, testorigin.Options{Content: testorigin.Content{Seed: 3, Size: 10}}, fastOpts())
	_, err := e.m.Probe(context.Background(), front.URL+"/start", nil)
	if err == nil {
		t.Fatal("probe through a bad Location succeeded")
	}
	if strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "Location") {
		t.Errorf("error %q: want it to name the bad Location without its query", err)
	}
	if retriable(err) {
		t.Errorf("a bad Location is retried: %v", err)
	}
}
