//go:build linux

package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"fsm/internal/testorigin"
)

func TestWrongTallyCountsWrongBytes(t *testing.T) {
	c := testorigin.Content{Seed: biggerSeed, Size: 4 << 20}
	const off, n = 1 << 20, 2 << 20
	type span struct{ from, to int } // into the read
	for _, tc := range []struct {
		name  string
		zeros []span // zeroed, as holes read
		flips []span // every byte inverted
		first int    // the first wrong byte, into the read; -1: none
	}{
		{name: "right", first: -1},
		{name: "one hole", zeros: []span{{300 << 10, 364 << 10}}, first: 300 << 10},
		{name: "holes across writes", zeros: []span{{10, 20}, {(256 << 10) - 5, (256 << 10) + 5}, {n - 3, n}}, first: 10},
		{name: "a changed byte", flips: []span{{7, 8}}, first: 7},
		{name: "changed and zeroed", flips: []span{{99_990, 100_010}}, zeros: []span{{1 << 20, 1<<20 + 4096}}, first: 99_990},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := c.Bytes(off, n)
			got := c.Bytes(off, n)
			for _, z := range tc.zeros {
				clear(got[z.from:z.to])
			}
			for _, f := range tc.flips {
				for i := f.from; i < f.to; i++ {
					got[i] ^= 0xff
				}
			}
			// The obvious count, byte by byte over the whole read.
			var wrong, zero, runs int64
			for i := range got {
				if got[i] != want[i] {
					wrong++
					if got[i] == 0 {
						zero++
					}
					if i == 0 || got[i-1] == want[i-1] {
						runs++
					}
				}
			}
			w := newWrongTally(c, off)
			for p := got; len(p) > 0; { // writes of uneven sizes, as a body arrives
				k := min(len(p), 100_000)
				if m, err := w.Write(p[:k]); m != k || err != nil {
					t.Fatalf("Write: %d, %v", m, err)
				}
				p = p[k:]
			}
			err := w.err()
			if tc.first < 0 {
				if err != nil {
					t.Fatalf("right bytes: %v", err)
				}
				return
			}
			if !errors.Is(err, errWrongBytes) {
				t.Fatalf("err %v, want wrong bytes", err)
			}
			if w.wrong != wrong || w.zero != zero || w.runs != runs || w.first != off+int64(tc.first) {
				t.Errorf("wrong %d zero %d runs %d first %d; want %d %d %d %d", w.wrong, w.zero, w.runs, w.first,
					wrong, zero, runs, off+tc.first)
			}
		})
	}
}

func TestWrongTallyRefusesBytesPastTheEnd(t *testing.T) {
	c := testorigin.Content{Seed: biggerSeed, Size: 100}
	w := newWrongTally(c, 90)
	if _, err := w.Write(c.Bytes(90, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte{1}); !errors.Is(err, errWrongBytes) {
		t.Fatalf("a byte past the end: %v, want wrong bytes", err)
	}
}

// The disk use counts allocated blocks, not apparent size: a temp file
// with holes punched (or never written) is what a streamed file is.
func TestDiskUseCountsBlocksNotSize(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "sub", "sparse"))
	if errors.Is(err, os.ErrNotExist) {
		if err = os.Mkdir(filepath.Join(dir, "sub"), 0o700); err == nil {
			f, err = os.Create(filepath.Join(dir, "sub", "sparse"))
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 1<<20), 8<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got := diskUse(dir)
	if got < 1<<20 || got > 2<<20 {
		t.Errorf("diskUse = %d bytes for a 256 MiB file holding 1 MiB; want about 1 MiB", got)
	}
}
