package testorigin

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestContentDeterministic(t *testing.T) {
	t.Parallel()
	a := Content{Seed: 7, Size: 1 << 16}
	b := Content{Seed: 7, Size: 1 << 16}
	if !bytes.Equal(a.Bytes(0, a.Size), b.Bytes(0, b.Size)) {
		t.Fatal("same seed produced different content")
	}
	c := Content{Seed: 8, Size: 1 << 16}
	if bytes.Equal(a.Bytes(0, 4096), c.Bytes(0, 4096)) {
		t.Fatal("different seeds produced identical content")
	}
	// Content must not be trivially periodic (e.g. repeating words).
	if bytes.Equal(a.Bytes(0, 64), a.Bytes(64, 64)) {
		t.Fatal("content repeats")
	}
}

func TestContentReadAtOddOffsets(t *testing.T) {
	t.Parallel()
	c := Content{Seed: 42, Size: 1000}
	whole := make([]byte, c.Size)
	if n, err := c.ReadAt(whole, 0); n != int(c.Size) || err != nil {
		t.Fatalf("full ReadAt = %d, %v", n, err)
	}
	tests := []struct {
		off     int64
		n       int
		wantN   int
		wantEOF bool
	}{
		{0, 1, 1, false},
		{1, 1, 1, false},
		{3, 5, 5, false},
		{7, 2, 2, false},
		{7, 9, 9, false},
		{5, 3, 3, false}, // ends exactly on a word boundary
		{13, 100, 100, false},
		{999, 1, 1, false},
		{995, 10, 5, true}, // short read at end
		{992, 8, 8, false}, // exactly to the end: no EOF required
		{1000, 4, 0, true},
		{5000, 4, 0, true},
		{17, 0, 0, false},
	}
	for _, tt := range tests {
		p := make([]byte, tt.n)
		n, err := c.ReadAt(p, tt.off)
		if n != tt.wantN || (err == io.EOF) != tt.wantEOF || (err != nil && err != io.EOF) {
			t.Errorf("ReadAt(len %d, off %d) = %d, %v; want %d, EOF=%v", tt.n, tt.off, n, err, tt.wantN, tt.wantEOF)
			continue
		}
		if !bytes.Equal(p[:n], whole[min(tt.off, c.Size):min(tt.off, c.Size)+int64(n)]) {
			t.Errorf("ReadAt(len %d, off %d): bytes differ from full read", tt.n, tt.off)
		}
		if got := c.Bytes(tt.off, int64(tt.n)); !bytes.Equal(got, p[:n]) {
			t.Errorf("Bytes(%d, %d) differs from ReadAt", tt.off, tt.n)
		}
	}
	if _, err := c.ReadAt(make([]byte, 1), -1); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("negative offset: err = %v, want non-EOF error", err)
	}
}

// TestContentHuge checks that a multi-GiB file is addressable without being
// allocated (the test would OOM or crawl otherwise).
func TestContentHuge(t *testing.T) {
	t.Parallel()
	c := Content{Seed: 1, Size: 8 << 30}
	p := make([]byte, 100)
	n, err := c.ReadAt(p, c.Size-50)
	if n != 50 || err != io.EOF {
		t.Fatalf("ReadAt near end = %d, %v", n, err)
	}
	if !bytes.Equal(p[:50], c.Bytes(c.Size-50, 50)) {
		t.Fatal("Bytes and ReadAt disagree near end of huge file")
	}
	if !bytes.Equal(c.Bytes(c.Size-50, 10), c.Bytes(c.Size-60, 20)[10:]) {
		t.Fatal("overlapping slices disagree")
	}
}

func BenchmarkContentReadAt(b *testing.B) {
	c := Content{Seed: 1, Size: 1 << 40}
	p := make([]byte, 1<<20)
	b.SetBytes(int64(len(p)))
	for i := 0; b.Loop(); i++ {
		_, _ = c.ReadAt(p, int64(i)*int64(len(p))+3)
	}
}
