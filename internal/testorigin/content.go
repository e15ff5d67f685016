package testorigin

import (
	"encoding/binary"
	"errors"
	"io"
)

// Content is a virtual file of Size bytes whose bytes are a pure function of
// (Seed, offset). Nothing is ever materialised: any slice at any offset is
// regenerated on demand, so multi-GiB test files cost no memory and a test
// can check any byte it received against the expected value independently.
//
// The stream is built from 8-byte words: word k (covering bytes 8k..8k+7,
// little-endian) is a SplitMix64 hash of (Seed, k). Hashing per word rather
// than running a sequential PRNG is what makes random access O(1).
type Content struct {
	Seed uint64
	Size int64
}

// errNegativeOffset mirrors what os.File.ReadAt reports for off < 0.
var errNegativeOffset = errors.New("testorigin: negative offset")

// word returns the 8 pseudo-random bytes of block k.
func word(seed uint64, k uint64) uint64 {
	// Two different odd multipliers keep (seed, k) and (seed+1, k') from
	// colliding for any realistic file size; the SplitMix64 finaliser then
	// spreads every input bit over the whole word.
	x := k*0x9E3779B97F4A7C15 + seed*0xD1B54A32D192ED03 + 0x632BE59BD9B4E019
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// ReadAt implements io.ReaderAt: it fills p with the bytes at off and returns
// io.EOF together with a short count when the read reaches the end of the
// file, and (0, io.EOF) when off is at or past the end.
func (c Content) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= c.Size {
		return 0, io.EOF
	}
	n := len(p)
	if rem := c.Size - off; int64(n) > rem {
		n = int(rem)
	}
	c.fill(p[:n], off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fill writes the bytes at [off, off+len(p)) into p without bounds checks
// against Size (callers have already clamped).
func (c Content) fill(p []byte, off int64) {
	k := uint64(off) / 8
	// Leading bytes up to the next word boundary.
	if shift := uint64(off) % 8; shift != 0 {
		w := word(c.Seed, k) >> (8 * shift)
		i := 0
		for ; i < len(p) && shift < 8; i, shift = i+1, shift+1 {
			p[i] = byte(w)
			w >>= 8
		}
		p = p[i:]
		k++
	}
	// Whole words: the hot path for large reads.
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, word(c.Seed, k))
		p = p[8:]
		k++
	}
	// Trailing partial word.
	if len(p) > 0 {
		w := word(c.Seed, k)
		for i := range p {
			p[i] = byte(w)
			w >>= 8
		}
	}
}

// Bytes returns the (at most n) bytes at off; it is shorter than n only when
// the file ends first, and empty when off is outside the file. Meant for
// tests comparing small slices, as it allocates the result.
func (c Content) Bytes(off, n int64) []byte {
	if n <= 0 || off < 0 || off >= c.Size {
		return []byte{}
	}
	if rem := c.Size - off; n > rem {
		n = rem
	}
	p := make([]byte, n)
	c.fill(p, off)
	return p
}
