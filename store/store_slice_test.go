package store

import "testing"

// CopyTo waits for more than 64 KiB only when the download brings it
// within a few milliseconds, and never for more than a MiB.
func TestNextSlice(t *testing.T) {
	tests := []struct {
		rate float64 // bytes/s
		want int64
	}{
		{0, copySlice},            // nothing measured yet
		{10e3, copySlice},         // a trickle: 64 KiB as before
		{20e6, copySlice + 14464}, // 20 MB/s: 80 kB in 4 ms
		{100e6, 400_000},          // 100 MB/s: 4 ms worth
		{500e6, copySliceMax},     // fast: a MiB
		{1e12, copySliceMax},      // and never more
	}
	for _, tc := range tests {
		if got := nextSlice(tc.rate); got != tc.want {
			t.Errorf("nextSlice(%.0f) = %d, want %d", tc.rate, got, tc.want)
		}
	}
}
