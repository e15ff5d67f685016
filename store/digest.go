package store

import (
	"fmt"
	"hash"
	"hash/crc64"
	"slices"
	"sync"
)

// digestBlock is the unit a file without validators is verified in.
const digestBlock = 1 << 20

var crcTable = crc64.MakeTable(crc64.ECMA)

// digests remember a checksum of each block of a file that has no
// validator, as first received. Its bytes can leave the temp file (an
// eviction) and be downloaded again; the new stream must then match block
// by block, and a block's bytes are handed out only once they did, so a
// file that changed at the origin in between fails with ErrChanged instead
// of mixing versions. It is fed by one stream at a time, always from byte
// 0; the hand-over from one stream's fetcher to the next goes through
// Store.mu.
type digests struct {
	mu    sync.Mutex // guards sums' growth against snapshot; the feeding stream reads them without it
	sums  []uint64   // per block, as first seen
	cur   hash.Hash64
	block int64 // index of the block cur is summing
	fed   int64 // bytes of that block fed so far
}

func newDigests() *digests { return &digests{cur: crc64.New(crcTable)} }

// restart begins a new stream at byte 0.
func (d *digests) restart() {
	d.cur.Reset()
	d.block, d.fed = 0, 0
}

// feed takes the stream's next bytes.
func (d *digests) feed(b []byte) error {
	for len(b) > 0 {
		k := min(int64(len(b)), digestBlock-d.fed)
		d.cur.Write(b[:k])
		d.fed += k
		b = b[k:]
		if d.fed == digestBlock {
			if err := d.endBlock(); err != nil {
				return err
			}
		}
	}
	return nil
}

// end takes the end of the stream: the last block may be shorter.
func (d *digests) end() error {
	if d.fed == 0 {
		return nil
	}
	return d.endBlock()
}

func (d *digests) endBlock() error {
	sum := d.cur.Sum64()
	if d.block < int64(len(d.sums)) {
		if d.sums[d.block] != sum {
			return fmt.Errorf("%w: bytes from %d on differ from the first download", ErrChanged, d.block*digestBlock)
		}
	} else {
		d.mu.Lock()
		d.sums = append(d.sums, sum)
		d.mu.Unlock()
	}
	d.cur.Reset()
	d.block, d.fed = d.block+1, 0
	return nil
}

// safe is how far, from byte 0, the stream fed so far may be handed out:
// everything in blocks never seen before, and only verified blocks among
// those seen.
func (d *digests) safe(pos int64) int64 {
	if d.block >= int64(len(d.sums)) {
		return pos
	}
	return d.block * digestBlock
}

// snapshot copies the checksums for a checkpoint, while a stream may be
// adding to them.
func (d *digests) snapshot() []uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sums)
}
