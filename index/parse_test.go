package index

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestLinksUnder is the prefix rule, link by link, on a page at
// http://h/pub/a/ whose folder is http://h/pub/.
func TestLinksUnder(t *testing.T) {
	root := newFolder(mustURL(t, "http://h/pub/"))
	page := mustURL(t, "http://h/pub/a/")
	tests := []struct {
		href    string
		want    string // path elements joined by "|", "/" appended for a folder; "" means ignored
		wantURL string // "" means not checked
	}{
		{"f.iso", "a|f.iso", "http://h/pub/a/f.iso"},
		{"sub/", "a|sub/", ""},
		{"./f.iso", "a|f.iso", ""},
		{"../b/g.bin", "b|g.bin", ""},
		{"/pub/top.txt", "top.txt", ""},
		{"http://h/pub/a/f.iso", "a|f.iso", ""},
		{"HTTP://H:80/pub/a/f.iso", "a|f.iso", ""},
		{"//h/pub/a/f.iso", "a|f.iso", ""},
		{"f.iso#chapter-2", "a|f.iso", "http://h/pub/a/f.iso"},
		{"my%20file.iso", "a|my file.iso", "http://h/pub/a/my%20file.iso"},
		{"my file.iso", "a|my file.iso", "http://h/pub/a/my%20file.iso"},
		{"a%2Fb", "a|a/b", "http://h/pub/a/a%2Fb"},
		{"%E2%99%AA.flac", "a|♪.flac", ""},
		{"♪.flac", "a|♪.flac", ""},
		{"100%25", "a|100%", ""},
		{"%2E%2E/", "", ""},   // ".." in disguise
		{"x//y", "", ""},      // an empty element
		{"../../", "", ""},    // the grandparent
		{"../", "", ""},       // the folder itself
		{"./", "a/", ""},      // this page: a sub-folder, which the walk has seen
		{"/pub/a/", "a/", ""}, // the same, absolute
		{"/", "", ""},         // the site root
		{"/pubx/f", "", ""},   // a sibling that shares the prefix's letters
		{"/pub", "", ""},      // the folder without its slash
		{"?C=N;O=D", "", ""},  // Apache's sort links
		{"?sort=name&order=desc", "", ""},
		{"f.iso?download=1", "", ""},
		{"f.iso?", "", ""},
		{"https://h/pub/a/f.iso", "", ""}, // another scheme
		{"http://h:8080/pub/a/f.iso", "", ""},
		{"http://mirror.example.net/pub/a/f.iso", "", ""},
		{"mailto:me@example.org", "", ""},
		{"javascript:void(0)", "", ""},
		{"%zz", "", ""}, // not a URL
	}
	for _, tc := range tests {
		body := `<a href="` + strings.ReplaceAll(tc.href, `"`, "&quot;") + `">x</a>`
		ls := links(page, []byte(body))
		got, gotURL := "", ""
		if len(ls) == 1 {
			if l, ok := root.classify(ls[0]); ok {
				got = strings.Join(l.path, "|")
				if l.isFolder {
					got += "/"
				}
				gotURL = l.url.String()
			}
		}
		if got != tc.want {
			t.Errorf("href %q: got %q, want %q", tc.href, got, tc.want)
		}
		if tc.wantURL != "" && gotURL != tc.wantURL {
			t.Errorf("href %q: URL %q, want %q", tc.href, gotURL, tc.wantURL)
		}
	}
}

// TestLinksTokenizer is what the tokenizer hands over: entities decoded,
// any case, the first <base href> wherever it is, broken markup tolerated.
func TestLinksTokenizer(t *testing.T) {
	page := mustURL(t, "http://h/pub/")
	tests := []struct {
		name, body string
		want       []string
	}{
		{"entities", `<a href="a&amp;b.txt">`, []string{"http://h/pub/a&b.txt"}},
		{"upper case", `<A HREF="F.ISO">`, []string{"http://h/pub/F.ISO"}},
		{"unquoted", `<a href=f.iso>`, []string{"http://h/pub/f.iso"}},
		{"whitespace", "<a href=\"\n  f\t.iso  \">", []string{"http://h/pub/f.iso"}},
		{"base after links", `<a href="f"><base href="/x/"><base href="/y/">`, []string{"http://h/x/f"}},
		{"relative base", `<base href="sub/"><a href="f">`, []string{"http://h/pub/sub/f"}},
		{"base without href", `<base target="_top"><base href="/x/"><a href="f">`, []string{"http://h/x/f"}},
		{"not a tags", `<link href="s.css"><img src="i.gif"><area href="m"><a name="n">`, nil},
		{"fragment and empty", `<a href="#top"><a href="">`, nil},
		{"in comments and scripts", `<!-- <a href="c"> --><script>document.write('<a href="s">')</script><a href="f">`, []string{"http://h/pub/f"}},
		{"unclosed", `<table><tr><td><a href="f">f<td><a href="g"`, []string{"http://h/pub/f"}},
		{"self closing", `<a href="f"/>`, []string{"http://h/pub/f"}},
	}
	for _, tc := range tests {
		var got []string
		for _, u := range links(page, []byte(tc.body)) {
			got = append(got, u.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
