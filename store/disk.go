package store

import (
	"errors"
	"fmt"
	"os"

	"github.com/dustin/go-humanize"
)

// This file is how much of the cache disk fsm takes: the free margin it
// leaves there, the reservation of a file's blocks (whole, else range by
// range), giving back what a failed reservation took, and the sizes a file
// system refuses outright.

// The free margin: without a cache budget fsm never takes the last
// max(1 GiB, 5 %) of the cache disk, which the user's own programs need
// more than a cache does. With a budget the budget rules instead.
const (
	minMargin     = 1 << 30
	marginPercent = 5
)

// marginOf is what fsm leaves free on a cache disk of total bytes.
func (m *Manager) marginOf(total int64) int64 {
	switch {
	case m.opts.MaxSize > 0, m.opts.FreeMargin < 0:
		return 0
	case m.opts.FreeMargin > 0:
		return m.opts.FreeMargin
	}
	return max(minMargin, total/100*marginPercent)
}

// room is how many more bytes fsm may put on the cache disk: what is free
// less the margin; -1 when the disk does not tell.
func (m *Manager) room() int64 {
	free, total := diskSpace(m.runDir)
	if free < 0 {
		return -1
	}
	return max(free-m.marginOf(total), 0)
}

// noSpaceErr says that need bytes do not fit, and where. The caller names
// the file.
func (m *Manager) noSpaceErr(need int64) error {
	free, total := diskSpace(m.runDir)
	if margin := m.marginOf(total); margin > 0 {
		return fmt.Errorf("%w: the file needs %d bytes, %d are free in %s, and fsm leaves %d of them free (a cache budget lifts that)", ErrNoSpace, need, free, m.runDir, margin)
	}
	return fmt.Errorf("%w: the file needs %d bytes, %d are free in %s", ErrNoSpace, need, free, m.runDir)
}

// noSpaceErr says that the file does not fit, and where.
func (s *Store) noSpaceErr() error { return s.m.noSpaceErr(s.rem.Size) }

// tooBigError: the cache disk's file system refuses a file of this size at
// all (ext4 holds at most 16 TiB in a file): a local limit, not the
// origin's fault, so it is an ErrNoSpace.
type tooBigError struct {
	size int64
	dir  string
}

func (e *tooBigError) Error() string {
	return fmt.Sprintf("the cache disk cannot hold a file of %s (%d bytes; in %s)", humanize.IBytes(uint64(e.size)), e.size, e.dir)
}

func (e *tooBigError) Is(target error) bool { return target == ErrNoSpace }

// preallocate reserves the file's disk blocks once a download starts: writes
// into reserved blocks cost far less CPU than growing a sparse file piece by
// piece, and a full disk shows up now rather than midway. The whole file is
// downloaded in the background anyway, so nothing is reserved in vain.
// It runs once per download, in a fetcher, so close and evict wait for it.
// When the disk is short it evicts idle files to make room; when that is not
// enough, fetches reserve each range they are about to write instead
// (reserveRange), so reads still get their bytes wherever those fit.
func (s *Store) preallocate(file *os.File) {
	s.mu.Lock()
	tried := s.res != resNone
	if !tried {
		s.res = resTrying
	}
	s.mu.Unlock()
	if tried {
		return
	}
	reserve := func() error { return s.reserveWhole(file) }
	err := reserve()
	if errors.Is(err, errDiskFull) {
		err = s.m.makeRoom(s, reserve)
	}
	s.mu.Lock()
	if s.res != resTrying {
		s.mu.Unlock()
		return // reset by an eviction meanwhile, which freed the blocks
	}
	ranges := errors.Is(err, errDiskFull) || errors.Is(err, errFileTooBig)
	switch {
	case err == nil:
		s.res = resHeld
		s.rechargeLocked()
	case ranges:
		s.res = resRanges
	}
	s.mu.Unlock()
	switch {
	case err == nil, errors.Is(err, errors.ErrUnsupported):
		// reserved, or nothing reserved: disk use is charged as bytes arrive
	case ranges:
		s.log.Warn("the whole file does not fit on the cache disk; reserving each range as it is fetched", "bytes", s.rem.Size, "room", s.m.room(), "dir", s.m.runDir)
	default:
		s.log.Warn("cannot reserve disk space for the temp file; downloading anyway", "bytes", s.rem.Size, "dir", s.m.runDir, "err", err)
	}
}

// reserveWhole reserves every block of the file if the disk can spare them
// beside its margin. A fallocate that fails gives back at once what it took.
func (s *Store) reserveWhole(file *os.File) error {
	s.mu.Lock()
	need := s.rem.Size - s.present.total
	s.mu.Unlock()
	if room := s.m.room(); room >= 0 && need > room {
		return errDiskFull // fallocate would take blocks up to the last free one first
	}
	err := allocate(file, 0, s.rem.Size)
	if errors.Is(err, errDiskFull) || errors.Is(err, errFileTooBig) {
		s.giveBack(file)
	}
	return err
}

// giveBack frees the blocks a failed reservation took (ext4 keeps them):
// every range that is neither present nor possibly being written by a
// fetch. It holds mu across the punches, an exception to the rule that no
// lock is held across disk calls: each fetch records, under mu, the range
// it may write before writing it (fetch.dirty), so holding mu is what
// keeps a write from landing in a range being punched. Punching only
// changes block maps, so it is quick.
func (s *Store) giveBack(file *os.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keep rangeSet
	for _, sp := range s.present.spans {
		keep.add(sp.start, sp.end)
	}
	for _, f := range s.fetches {
		keep.add(f.dirty.start, f.dirty.end)
	}
	size := s.rem.Size
	for pos := int64(0); pos < size; {
		a := keep.nextMissing(pos, size)
		if a >= size {
			return
		}
		b := keep.nextPresent(a, size)
		if err := punch(file, a, b-a); err != nil {
			s.log.Warn("cannot give back the disk space of a failed reservation", "dir", s.m.runDir, "err", err)
			return
		}
		pos = b
	}
}

// reserveRange reserves [off, off+n) before a fetch writes it, when the
// whole file did not fit (resRanges): a range that does not fit beside the
// margin fails with ErrNoSpace, and reads of other ranges still get their
// bytes where those fit. Readahead and the background fill stop short of
// that by as much as all fetches of a file may claim at once, so a file
// that can never be complete does not take the room later reads need.
func (s *Store) reserveRange(file *os.File, off, n int64, readahead bool) error {
	spare := int64(0)
	if readahead {
		spare = int64(s.m.opts.MaxFetchers) * s.m.opts.ChunkSize
	}
	if room := s.m.room(); room >= 0 && n+spare > room {
		return fmt.Errorf("%w; the range at %d does not fit either", s.noSpaceErr(), off)
	}
	switch err := allocate(file, off, n); {
	case err == nil, errors.Is(err, errors.ErrUnsupported):
		return nil
	case errors.Is(err, errDiskFull), errors.Is(err, errFileTooBig):
		return fmt.Errorf("%w; the range at %d does not fit either", s.noSpaceErr(), off)
	default:
		return fmt.Errorf("%w %s: reserve %d bytes at %d: %w", errWrite, s.path, n, off, err)
	}
}

// growth is the temp file of a download of unknown size: each write is
// charged to the cache as it lands, and refused with ErrNoSpace where the
// cache may not grow further, past the budget (once idle files are
// evicted) or into the disk's free margin. That bound is also what ends an
// endless source that keeps trickling bytes, which the stall watchdog
// cannot tell from a slow one.
type growth struct {
	m       *Manager
	f       *os.File
	n       int64 // bytes written, and charged to m
	checked int64 // n when the disk was last asked for room
	arr     *Arrival
}

// diskLook is how often (in bytes written) growth asks the disk for room:
// a statfs per write would cost more than the write.
const diskLook = 1 << 20

func (g *growth) Write(p []byte) (int, error) {
	add := int64(len(p))
	if err := g.mayGrow(add); err != nil {
		return 0, err
	}
	k, err := g.f.Write(p)
	g.n += int64(k)
	g.m.grew(int64(k))
	g.arr.add(int64(k))
	if err != nil && diskFull(err) {
		err = g.m.noSpaceErr(g.n + add)
	}
	return k, err
}

func (g *growth) mayGrow(add int64) error {
	m := g.m
	if budget := m.opts.MaxSize; budget > 0 {
		fits := func() error {
			if m.used.Load()+add > budget {
				return errDiskFull
			}
			return nil
		}
		if fits() != nil && m.makeRoom(nil, fits) != nil {
			return fmt.Errorf("%w: a source of unknown size passed the cache budget of %d bytes after %d bytes", ErrNoSpace, budget, g.n)
		}
		return nil
	}
	if g.n+add-g.checked < diskLook && g.checked > 0 {
		return nil
	}
	g.checked = g.n + add
	if room := m.room(); room >= 0 && room < diskLook+add {
		return fmt.Errorf("%w: a source of unknown size filled the cache disk up to its free margin after %d bytes (%d bytes free in %s)", ErrNoSpace, g.n, freeOf(m.runDir), m.runDir)
	}
	return nil
}

// done gives back growth's charge: the store that adopts the file charges
// it again, or nothing does.
func (g *growth) done() { g.m.grew(-g.n) }

func freeOf(dir string) int64 {
	free, _ := diskSpace(dir)
	return free
}
