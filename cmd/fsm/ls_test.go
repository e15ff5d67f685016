package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"fsm/control/api"
	"fsm/internal/termui"
)

func TestFileCells(t *testing.T) {
	size := func(n int64) *int64 { return &n }
	tests := []struct {
		f    fileInfo
		want []string
	}{
		{fileInfo{Name: "p", State: "probing"}, []string{"p", "-", "[--------------------]", "-", "-", "-", "probing", "0", ""}},
		{fileInfo{Name: "d", Size: size(4 << 20), Downloaded: 1 << 20, Rate: 2 << 20, State: "downloading", OpenHandles: 2, Paths: []string{"/m/d"}},
			[]string{"d", "4.2 MB", "[====>---------------]", "25%", "2.1 MB/s", "2s", "downloading", "2", "/m/d"}},
		{fileInfo{Name: "slow", Size: size(1 << 30), Downloaded: 0, Rate: 100 << 10, State: "downloading"}, []string{"slow", "1.1 GB", "[--------------------]", "0%", "102 kB/s", "2h54m", "downloading", "0", "none"}},
		{fileInfo{Name: "minutes", Size: size(1000), Downloaded: 0, Rate: 5, State: "downloading"}, []string{"minutes", "1.0 kB", "[--------------------]", "0%", "5 B/s", "3m20s", "downloading", "0", "none"}},
		{fileInfo{Name: "almost", Size: size(1000), Downloaded: 999, State: "downloading"}, []string{"almost", "1.0 kB", "[===================>]", "99%", "0 B/s", "-", "downloading", "0", "none"}},
		{fileInfo{Name: "c", Size: size(1000), Downloaded: 1000, State: "complete"}, []string{"c", "1.0 kB", "[====================]", "100%", "-", "-", "complete", "0", "none"}},
		{fileInfo{Name: "empty", Size: size(0), State: "complete"}, []string{"empty", "0 B", "[====================]", "100%", "-", "-", "complete", "0", "none"}},
		{fileInfo{Name: "r", Size: size(1000), Downloaded: 10, State: "downloading", Retrying: &api.Retrying{Reason: "origin answered 503"}},
			[]string{"r", "1.0 kB", "[--------------------]", "1%", "0 B/s", "-", "retrying", "0", "none"}},
		{fileInfo{Name: "kept", Size: size(0), State: "complete", AfterRead: "keep"}, []string{"kept", "0 B", "[====================]", "100%", "-", "-", "complete", "0", "none"}},
		{fileInfo{Name: "up", Size: size(0), State: "complete", AfterRead: "evict"}, []string{"up", "0 B", "[====================]", "100%", "-", "-", "complete (then evict)", "0", "none"}},
	}
	for _, tc := range tests {
		got := fileCells(tc.f, 0)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s:\n got %q\nwant %q", tc.f.Name, got, tc.want)
		}
	}
}

// lsFixture is a listing with what makes terminals hard: a long name, a
// path with a blank, a failure, a file with no local path.
func lsFixture() []fileInfo {
	size := func(n int64) *int64 { return &n }
	long := "films/a long name of a holiday film in June.mp4"
	return []fileInfo{
		{Name: long, URL: "https://cdn.example/films/a%20long.mp4", Headers: []string{"Authorization"},
			Size: size(379_000_000), Downloaded: 52_000_000, Rate: 7_400_000, State: "downloading", OpenHandles: 1, Paths: []string{"/f/" + long}},
		{Name: "gone.bin", State: "failed", Error: "the origin answered 404 Not Found"},
		{Name: "nopath.bin", Size: size(1000), State: "idle"},
		{Name: "small.bin", Size: size(1000), Downloaded: 1000, State: "complete", Paths: []string{"/f/small.bin", "/run/gvfs/dav:host=127.0.0.1,port=8080/small.bin"}},
	}
}

// On a terminal the listing fits the width: at 80 columns the names are cut
// in the middle, the bar is shrunk or dropped and the paths go on their
// own lines, whole; at 200 everything is a column. A totals line is on top.
func TestFileTableFits(t *testing.T) {
	for _, width := range []int{79, 199} {
		t.Run(strconv.Itoa(width+1), func(t *testing.T) {
			v := lsView{width: width, webdav: "http://127.0.0.1:8080/"}
			lines := fileTable(lsFixture(), v)
			text := strings.Join(lines, "\n")
			for _, l := range lines {
				if w := termui.Width(l); w > width {
					t.Errorf("line of %d columns at %d: %q", w, width, l)
				}
			}
			if lines[0] != "4 files · 1 downloading · 7.4 MB/s · 52 MB of 379 MB" {
				t.Errorf("totals line %q", lines[0])
			}
			long := lsFixture()[0]
			if width < 100 {
				if strings.Contains(lines[2], long.Name) || !strings.HasPrefix(lines[2], "films/a …June.mp4 ") {
					t.Errorf("the long name is not cut in the middle:\n%s", text)
				}
				for _, f := range lsFixture() {
					for _, p := range f.Paths {
						if !slices.Contains(lines, "  → "+p) {
							t.Errorf("path %q is not on its own line:\n%s", p, text)
						}
					}
				}
			} else {
				head := lines[1]
				if !strings.Contains(text, long.Name) || !strings.HasSuffix(head, "PATHS") || !strings.Contains(head, "PROGRESS") {
					t.Errorf("at %d columns want whole names, a bar and PATHS last:\n%s", width, text)
				}
				small := lsFixture()[3]
				if !strings.Contains(text, "'"+long.Paths[0]+"'") || !strings.Contains(text, small.Paths[0]+" "+small.Paths[1]) {
					t.Errorf("the paths are not separable:\n%s", text)
				}
				if !strings.Contains(text, "  none") {
					t.Errorf("a file without a local path does not say so:\n%s", text)
				}
			}
			for _, want := range []string{"└ the origin answered 404 Not Found", "no local path: start fsm serve with --fuse DIR or --mount,\nor mount http://127.0.0.1:8080/ with a WebDAV client"} {
				if !strings.Contains(text, want) {
					t.Errorf("listing lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

// Piped, the listing is plain ASCII (for ASCII names), one line a file
// with its notes under it, never cut; -l adds the URL, decoded, and the
// header names.
func TestFileTablePiped(t *testing.T) {
	lines := fileTable(lsFixture(), lsView{long: true})
	text := strings.Join(lines, "\n")
	for _, r := range text {
		if r > 0x7e || (r < 0x20 && r != '\n') {
			t.Fatalf("piped listing has %q:\n%s", r, text)
		}
	}
	for _, want := range []string{
		lsFixture()[0].Name,
		"  error: the origin answered 404 Not Found",
		"  url: https://cdn.example/films/a long.mp4",
		"  headers: Authorization",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("piped listing lacks %q:\n%s", want, text)
		}
	}
	if !strings.HasPrefix(lines[0], "NAME ") {
		t.Errorf("piped listing starts with %q, want the heading (no totals line)", lines[0])
	}
}

func TestDisplayURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://h.example/a%20b/c%C3%A9.iso":  "https://h.example/a b/cé.iso",
		"https://h.example/f.bin?sig=secret":   "https://h.example/f.bin?…",
		"https://h.example/%1b%5b31m.bin":      `https://h.example/\x1b[31m.bin`,
		"https://user:pw@h.example:8443/x.bin": "https://h.example:8443/x.bin",
	} {
		if got := displayURL(raw); got != want {
			t.Errorf("displayURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

// A staged folder is its own row, with its count (and failures) and sums,
// and then a row per file, named below the folder and indented.
func TestFolderRows(t *testing.T) {
	size := func(n int64) *int64 { return &n }
	f := fileInfo{Name: "pub", Folder: true, Files: 3, Failed: 1, Size: size(3 << 20), Downloaded: 1 << 20, State: "staged",
		Entries: []fileInfo{
			{Name: "pub/a.iso", Size: size(1 << 20), Downloaded: 1 << 20, State: "complete"},
			{Name: "pub/sub/b.iso", Size: size(2 << 20), State: "idle"},
			{Name: "pub/._x", State: "failed", Error: "bad name"},
		}}
	rows := folderRows(f, lsView{width: 200}, lsLayouts[0])
	want := []string{"pub/ (3 files, 1 failed)|3.1 MB|staged", "  a.iso|1.0 MB|complete", "  sub/b.iso|2.1 MB|idle", "  ._x|-|failed"}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if got := r.Cells[0] + "|" + r.Cells[1] + "|" + r.Cells[6]; got != want[i] {
			t.Errorf("row %d: %q, want %q", i, got, want[i])
		}
	}
	if paths := rows[0].Cells[len(rows[0].Cells)-1]; paths != "" {
		t.Errorf("the folder's row has PATHS %q; its files have them", paths)
	}
	if len(rows[3].Notes) != 1 || rows[3].Notes[0] != "└ bad name" {
		t.Errorf("failed entry's notes: %q", rows[3].Notes)
	}
}

func TestAwakeLine(t *testing.T) {
	tests := []struct {
		ka   api.KeepAwake
		want string
	}{
		{api.KeepAwake{}, ""},
		{api.KeepAwake{Reason: "off"}, ""},
		{api.KeepAwake{Reason: "no logind on the system D-Bus"}, ""},
		{api.KeepAwake{Active: true, Reason: "2 transfers"}, "keeping the computer awake: 2 transfers"},
	}
	for _, tc := range tests {
		if got := awakeLine(tc.ka); got != tc.want {
			t.Errorf("awakeLine(%+v) = %q, want %q", tc.ka, got, tc.want)
		}
	}
}

// ls -l marks a query string it does not show.
func TestLongListingMarksHiddenQuery(t *testing.T) {
	size := int64(10)
	for _, tc := range []struct {
		f    fileInfo
		want string
	}{
		{fileInfo{Name: "s", Size: &size, State: "idle", URL: "https://h.example/s.bin", URLQuery: true}, "url: https://h.example/s.bin?…"},
		{fileInfo{Name: "p", Size: &size, State: "idle", URL: "https://h.example/p.bin"}, "url: https://h.example/p.bin"},
	} {
		got := strings.Join(fileTable([]fileInfo{tc.f}, lsView{long: true}), "\n")
		if !strings.Contains(got, tc.want+"\n") && !strings.HasSuffix(got, tc.want) {
			t.Errorf("%s: listing\n%s\nwants the line %q", tc.f.Name, got, tc.want)
		}
	}
}
