package main

import (
	"strings"
	"testing"
)

// TestFileTableStreamingNote: a file larger than the cache says how much of
// the cache it streams through; an error still takes the note.
func TestFileTableStreamingNote(t *testing.T) {
	size := int64(1 << 40)
	for _, tc := range []struct {
		f    fileInfo
		want string
	}{
		{fileInfo{Name: "big", Size: &size, State: "downloading", StreamingCache: 2 << 30}, "streaming through 2.1 GB of cache"},
		{fileInfo{Name: "bad", Size: &size, State: "error", Error: "origin silent", StreamingCache: 2 << 30}, "origin silent"},
	} {
		got := strings.Join(fileTable([]fileInfo{tc.f}, lsView{}), "\n")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: table\n%s\nsays nothing of %q", tc.f.Name, got, tc.want)
		}
	}
}
