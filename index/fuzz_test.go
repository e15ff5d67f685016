package index

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLinks holds the prefix rule's promises on any page: every link kept
// is on the folder's scheme and host, has no query or fragment, and a path
// of non-empty elements other than "." and ".." whose URL, resolved, lies
// under the folder.
func FuzzLinks(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.html"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(`<base href="//h/pub/"><a href="../pub/x/./y"><a href="%2e%2E/">`)
	root := newFolder(&url.URL{Scheme: "http", Host: "h", Path: "/pub/"})
	page := &url.URL{Scheme: "http", Host: "h", Path: "/pub/a/"}
	f.Fuzz(func(t *testing.T, body string) {
		for _, u := range links(page, []byte(body)) {
			l, ok := root.classify(u)
			if !ok {
				continue
			}
			if l.url.Scheme != "http" || canonicalHost(l.url) != "h" || l.url.RawQuery != "" || l.url.Fragment != "" {
				t.Fatalf("kept %q", l.url)
			}
			if len(l.path) == 0 {
				t.Fatalf("%q: empty path", l.url)
			}
			for _, e := range l.path {
				if e == "" || e == "." || e == ".." {
					t.Fatalf("%q: element %q", l.url, e)
				}
			}
			if !strings.HasPrefix(l.url.EscapedPath(), "/pub/") {
				t.Fatalf("%q: not under /pub/", l.url)
			}
		}
	})
}
