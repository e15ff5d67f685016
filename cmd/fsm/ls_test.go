package main

import (
	"strings"
	"testing"
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
	}
	for _, tc := range tests {
		got := fileCells(tc.f, 0)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s:\n got %q\nwant %q", tc.f.Name, got, tc.want)
		}
	}
}
