package index

import (
	"slices"
	"strings"
	"testing"
)

// TestServerFormats reads each server's page on its own, at the folder it
// was written for: exactly its files and sub-folders are kept.
func TestServerFormats(t *testing.T) {
	tests := []struct {
		file, page string
		want       []string // "/" ends a sub-folder
	}{
		{"apache.html", "http://h/pub/", []string{"100%.txt", "a+b (1).bin", "a/b.txt", "docs/", "loop/", "media/", "my file.iso", "日本語.txt"}},
		{"apache-plain.html", "http://h/pub/old/", []string{"read me.txt", "v1/"}},
		{"nginx.html", "http://h/pub/docs/", []string{"deep/", "guide.pdf", "notes v2.txt", "a-very-long-file-name-that-nginx-truncates-in-the-listing.tar.gz"}},
		{"lighttpd.html", "http://h/pub/docs/deep/", []string{"über.txt", "x.bin"}},
		{"caddy.html", "http://h/pub/media/", []string{"sub/", "clip one.mp4", "♪ song.flac"}},
		{"iis.html", "http://h/pub/old/", []string{"v1/", "read me.txt"}},
		{"plain.html", "http://h/pub/media/sub/", []string{"files|clip.webm", "files|more|take 2.webm", "files|clip.webm"}},
	}
	for _, tc := range tests {
		page := mustURL(t, tc.page)
		root := newFolder(page)
		var got []string
		for _, u := range links(page, []byte(testdata(t, tc.file))) {
			l, ok := root.classify(u)
			if !ok {
				continue
			}
			s := strings.Join(l.path, "|")
			if l.isFolder {
				s += "/"
			}
			got = append(got, s)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.file, got, tc.want)
		}
	}
}
