package main

import (
	"strings"
	"testing"

	"fsm/control/api"
)

func TestFileCells(t *testing.T) {
	size := func(n int64) *int64 { return &n }
	tests := []struct {
		f    fileInfo
		want []string
	}{
		{fileInfo{Name: "p", State: "probing"}, []string{"p", "-", "[--------------------]", "-", "-", "-", "probing", "0", ""}},
		{fileInfo{Name: "d", Size: size(4 << 20), Downloaded: 1 << 20, Rate: 2 << 20, State: "downloading", OpenHandles: 2, Paths: []string{"/m/d"}},
			[]string{"d", "4.0 MiB", "[====>---------------]", "25%", "2.0 MiB/s", "2s", "downloading", "2", "/m/d"}},
		{fileInfo{Name: "slow", Size: size(1 << 30), Downloaded: 0, Rate: 100 << 10, State: "downloading"}, []string{"slow", "1.0 GiB", "[--------------------]", "0%", "100 KiB/s", "2h54m", "downloading", "0", ""}},
		{fileInfo{Name: "minutes", Size: size(1000), Downloaded: 0, Rate: 5, State: "downloading"}, []string{"minutes", "1000 B", "[--------------------]", "0%", "5 B/s", "3m20s", "downloading", "0", ""}},
		{fileInfo{Name: "almost", Size: size(1000), Downloaded: 999, State: "downloading"}, []string{"almost", "1000 B", "[===================>]", "99%", "0 B/s", "-", "downloading", "0", ""}},
		{fileInfo{Name: "c", Size: size(1000), Downloaded: 1000, State: "complete"}, []string{"c", "1000 B", "[====================]", "100%", "-", "-", "complete", "0", ""}},
		{fileInfo{Name: "empty", Size: size(0), State: "complete"}, []string{"empty", "0 B", "[====================]", "100%", "-", "-", "complete", "0", ""}},
		{fileInfo{Name: "r", Size: size(1000), Downloaded: 10, State: "downloading", Retrying: &api.Retrying{Reason: "origin answered 503"}},
			[]string{"r", "1000 B", "[--------------------]", "1%", "0 B/s", "-", "retrying", "0", ""}},
	}
	for _, tc := range tests {
		got := fileCells(tc.f, 0)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s:\n got %q\nwant %q", tc.f.Name, got, tc.want)
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
	rows := folderRows(f, 0)
	want := []string{"pub/ (3 files, 1 failed)|3.0 MiB|staged", "  a.iso|1.0 MiB|complete", "  sub/b.iso|2.0 MiB|idle", "  ._x|-|failed"}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if got := r.Cells[0] + "|" + r.Cells[1] + "|" + r.Cells[6]; got != want[i] {
			t.Errorf("row %d: %q, want %q", i, got, want[i])
		}
	}
	if rows[3].Note != "└ bad name" {
		t.Errorf("failed entry's note: %q", rows[3].Note)
	}
}
