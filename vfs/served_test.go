package vfs

import "testing"

func TestServedCovers(t *testing.T) {
	tests := []struct {
		name  string
		reads [][2]int64
		size  int64
		want  bool
	}{
		{"nothing read", nil, 10, false},
		{"empty file", nil, 0, true},
		{"one whole read", [][2]int64{{0, 10}}, 10, true},
		{"in pieces out of order", [][2]int64{{5, 10}, {0, 3}, {3, 5}}, 10, true},
		{"overlapping reads leave a hole", [][2]int64{{0, 6}, {2, 6}, {7, 10}}, 10, false},
		{"the same part twice", [][2]int64{{0, 5}, {0, 5}}, 10, false},
		{"touching spans merge", [][2]int64{{0, 4}, {4, 8}, {8, 10}}, 10, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s served
			for _, r := range tc.reads {
				s.add(r[0], r[1])
			}
			if got := s.covers(tc.size); got != tc.want {
				t.Fatalf("covers(%d) after %v = %v (total %d, spans %v), want %v", tc.size, tc.reads, got, s.total, s.spans, tc.want)
			}
		})
	}
}
