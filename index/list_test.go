package index

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const loopPage = `<html><body><h1>Index of /pub/loop/</h1>
<a href="./">this folder</a> <a href="../loop/">again</a> <a href="/pub/">the root</a>
<a href="../">parent</a> <a href="../../">grandparent</a> <a href="#top">top</a>
<a href="self/">self</a> <a href="up/">up</a> <a href="out/">out</a>
<a href="f.txt">f.txt</a> <a href="f.txt#s">f.txt, section s</a> <a href="./f.txt">f.txt again</a>
<a href="HTTP://{{HOST}}/pub/loop/f.txt">f.txt, another spelling</a>
</body></html>`

// tree is a folder written by four different servers, nested, with a
// loop folder of self-, parent- and redirecting links.
func tree(t *testing.T) *site {
	html := "text/html"
	return newSite(t, map[string]resp{
		"/pub":            {status: http.StatusMovedPermanently, location: "/pub/"},
		"/pub/":           {contentType: "text/html;charset=UTF-8", body: testdata(t, "apache.html")},
		"/pub/docs/":      {contentType: html, body: testdata(t, "nginx.html")},
		"/pub/docs/deep/": {contentType: "text/html; charset=utf-8", body: testdata(t, "lighttpd.html")},
		"/pub/media/":     {contentType: "text/html; charset=utf-8", body: testdata(t, "caddy.html")},
		"/pub/media/sub/": {body: testdata(t, "plain.html")}, // no Content-Type: sniffed
		"/pub/loop/":      {contentType: html, body: loopPage},
		"/pub/loop/self/": {status: http.StatusFound, location: "/pub/loop/"},
		"/pub/loop/up/":   {status: http.StatusFound, location: "/pub/"},
		"/pub/loop/out/":  {status: http.StatusFound, location: "/elsewhere/"},
		"/elsewhere/":     {contentType: html, body: `<a href="/pub/leaked.bin">leaked</a>`},
	})
}

func entryPaths(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, strings.Join(e.Path, "|"))
	}
	return out
}

func TestListServers(t *testing.T) {
	s := tree(t)
	var logs bytes.Buffer
	es, err := List(context.Background(), s.srv.Client(), s.srv.URL+"/pub", Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"100%.txt",
		"a+b (1).bin",
		"a/b.txt",
		"docs|a-very-long-file-name-that-nginx-truncates-in-the-listing.tar.gz",
		"docs|deep|x.bin",
		"docs|deep|über.txt",
		"docs|guide.pdf",
		"docs|notes v2.txt",
		"loop|f.txt",
		"media|clip one.mp4",
		"media|sub|files|clip.webm",
		"media|sub|files|more|take 2.webm",
		"media|♪ song.flac",
		"my file.iso",
		"日本語.txt",
	}
	if got := entryPaths(es); !slices.Equal(got, want) {
		t.Errorf("paths:\n got %q\nwant %q", got, want)
	}
	urls := map[string]string{}
	for _, e := range es {
		urls[strings.Join(e.Path, "|")] = e.URL
	}
	for path, u := range map[string]string{
		"my file.iso":               "/pub/my%20file.iso",
		"a/b.txt":                   "/pub/a%2Fb.txt",
		"100%.txt":                  "/pub/100%25.txt",
		"日本語.txt":                   "/pub/%e6%97%a5%e6%9c%ac%e8%aa%9e.txt",
		"media|clip one.mp4":        "/pub/media/clip%20one.mp4",
		"media|sub|files|clip.webm": "/pub/media/sub/files/clip.webm",
		"loop|f.txt":                "/pub/loop/f.txt",
	} {
		if got := urls[path]; got != s.srv.URL+u {
			t.Errorf("URL of %q = %q, want %q", path, got, s.srv.URL+u)
		}
	}

	// Nothing but pages, each once, except where a redirect led back to a
	// page already read (the client follows redirects before List sees
	// where they end); nothing off the folder but where a redirect led.
	wantReqs := []string{"/pub", "/pub/", "/pub/docs/", "/pub/loop/", "/pub/media/",
		"/pub/docs/deep/", "/pub/loop/self/", "/pub/loop/", "/pub/loop/up/", "/pub/",
		"/pub/loop/out/", "/elsewhere/", "/pub/media/sub/"}
	got := s.paths()
	if slices.Sort(got); !slices.Equal(got, sorted(wantReqs)) {
		t.Errorf("requests:\n got %q\nwant %q", got, sorted(wantReqs))
	}
	for _, r := range s.requests() {
		if ae := r.Header.Get("Accept-Encoding"); ae != "identity" {
			t.Errorf("%s: Accept-Encoding %q, want identity", r.URL, ae)
		}
	}
	if !strings.Contains(logs.String(), "redirected outside the folder") {
		t.Errorf("no log line for the page redirected off the folder:\n%s", logs.String())
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestListPageInFolder lists a folder from a page that is not the folder's
// own URL: the folder is the page's URL up to its last "/".
func TestListPageInFolder(t *testing.T) {
	s := newSite(t, map[string]resp{
		"/pub/index.html": {contentType: "text/html", body: `<a href="../">up</a> <a href="index.html">this</a> <a href="a.bin">a</a> <a href="/pub/b.bin">b</a>`},
	})
	es, err := List(context.Background(), s.srv.Client(), s.srv.URL+"/pub/index.html", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The page's link to itself is the page, not a file of the folder.
	if got, want := strings.Join(entryPaths(es), " "), "a.bin b.bin"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
