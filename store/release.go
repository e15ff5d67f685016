package store

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
)

// This file streams a file that does not fit in the cache: larger than
// --cache-max-size, or than the free disk when there is no budget. Such a
// file (a "big" one) gets a share of the cache, and the bytes no reader
// still needs are released from its temp file (a hole punched, the range
// set told) as readers go on, so its disk use stays within that share
// while a reader goes through the whole file. Files that fit never get
// here: their bytes stay until the whole file is evicted.
//
// What a big file keeps: the bytes reads in flight are copying (pins), the
// ranges fetches are filling, the ranges reads wait for, and around each
// reader's position (cursors) keepBehind bytes behind it and its share of
// readahead ahead. What it releases: first every present byte below the
// lowest reader (read past by all of them); then, only while the file
// still holds more than its share, kept-by-no-one bytes from the end of
// the file down (another reader may reach them later and fetch them again).
//
// A released range leaves the range set at once, but its hole is punched
// by punchLoop, without Store.mu: a punch first writes the range's dirty
// pages back (ext4 does), which under load takes up to seconds, and no read
// or fetch may wait for that. Until it is punched the range is neither
// present nor fetched (schedule.go skips it), and it still counts as disk
// use, so readahead does not outgrow the share meanwhile.

// bigFile is the streaming state of a big file. Its fields are guarded by
// Store.mu; the pointer itself is set by newStore and never changes.
type bigFile struct {
	pool    int64        // the cache streamed files share (the budget, or half the free disk)
	cursors []readCursor // where readers are, most recently used last
	seq     uint64       // orders cursors by use
	pins    []span       // reads in flight: never released under them
	active  bool         // counted in Manager.bigActive (holds bytes)
	noPunch bool         // the file system cannot punch holes: warned once
	// punching are released ranges whose holes punchLoop has yet to
	// punch, oldest first: punchLoop runs exactly while it is not empty
	// (it drops the head once punched, and returns when none is left).
	punching []span
}

// readCursor is one reader's position: the end of its latest read.
type readCursor struct {
	pos  int64
	used uint64
}

// keepBehind is what stays behind a reader's position: kernels and
// WebDAV clients re-read a little behind the latest read.
const keepBehind = 1 << 20

// bigPool says whether a file of size does not fit, and then how much cache
// the streamed files share: the budget, or without one half of the room
// the disk has now beside its free margin (disk.go; the other half is left
// for the files that fit), and at least one chunk.
func (m *Manager) bigPool(size int64) int64 {
	if m.opts.MaxSize > 0 {
		if size > m.opts.MaxSize {
			return m.opts.MaxSize
		}
		return 0
	}
	if room := m.room(); room >= 0 && size > room {
		return max(room/2, m.opts.ChunkSize)
	}
	return 0
}

// shareLocked is this big file's part of the pool: equal among the big
// files holding bytes (counting this one), less the one chunk a file's
// disk use may pass its share by (a fetch in flight), so that together
// they stay within the pool: the budget is a hard bound.
func (s *Store) shareLocked() int64 {
	n := s.m.bigActive.Load()
	if !s.big.active {
		n++
	}
	chunk := s.m.opts.ChunkSize
	return max(s.big.pool/max(n, 1)-chunk, chunk)
}

// behindLocked is what stays behind each reader within share.
func (s *Store) behindLocked(share int64) int64 {
	return min(keepBehind, share/8)
}

// aheadLocked is how far readahead goes past each reader within share.
func (s *Store) aheadLocked(share int64) int64 {
	n := int64(max(len(s.big.cursors), 1))
	return max(share/n-s.behindLocked(share), 0)
}

// noteReadLocked moves the cursor of the reader asking for [off, end), or
// starts one; a store keeps as many as it has readers (open handles or
// reads in flight), dropping the least recently used.
func (s *Store) noteReadLocked(off, end int64) {
	b := s.big
	if b == nil {
		return
	}
	b.seq++
	if s.res == resNone {
		// Never reserved whole: each fetch reserves the range it is about
		// to write, where the disk has room beside its margin (disk.go).
		s.res = resRanges
	}
	share := s.shareLocked()
	behind, ahead := s.behindLocked(share), max(s.aheadLocked(share), s.m.opts.ChunkSize)
	i := slices.IndexFunc(b.cursors, func(c readCursor) bool { return off >= c.pos-behind && off <= c.pos+ahead })
	if i < 0 {
		b.cursors = append(b.cursors, readCursor{})
		i = len(b.cursors) - 1
	}
	b.cursors[i] = readCursor{pos: end, used: b.seq}
	slices.SortFunc(b.cursors, func(x, y readCursor) int { return cmp.Compare(x.used, y.used) })
	if keep := max(s.handles, s.gate.busy(), 1); len(b.cursors) > keep {
		b.cursors = slices.Delete(b.cursors, 0, len(b.cursors)-keep)
	}
}

// pinLocked marks [off, end) as being read: it is not released until unpin.
func (s *Store) pinLocked(off, end int64) {
	if s.big != nil {
		s.big.pins = append(s.big.pins, span{off, end})
	}
}

// unpin ends the read pinLocked marked.
func (s *Store) unpin(off, end int64) {
	if s.big == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unpinLocked(off, end)
	s.releaseLocked()
}

func (s *Store) unpinLocked(off, end int64) {
	b := s.big
	if i := slices.Index(b.pins, span{off, end}); i >= 0 {
		b.pins = slices.Delete(b.pins, i, i+1)
	}
}

// pinWokenLocked keeps a woken waiter's bytes until it runs again: between
// its wake and its next look it is in no list releaseLocked reads.
func (s *Store) pinWokenLocked(w *waiter) {
	if s.big != nil {
		s.pinLocked(w.off, w.end)
		w.pinned = true
	}
}

// unpinWokenLocked undoes pinWokenLocked once the waiter runs.
func (s *Store) unpinWokenLocked(w *waiter) {
	if w.pinned {
		w.pinned = false
		s.unpinLocked(w.off, w.end)
	}
}

// bigNoteLocked keeps Manager.bigActive counting the big files that hold
// bytes; rechargeLocked calls it whenever the charge changes.
func (s *Store) bigNoteLocked() {
	b := s.big
	if b == nil {
		return
	}
	if active := s.charged > 0; active != b.active {
		b.active = active
		if active {
			s.m.bigActive.Add(1)
		} else {
			s.m.bigActive.Add(-1)
		}
	}
}

// releaseLocked releases what a big file no longer needs (see the top of
// this file); punchLoop punches the holes.
func (s *Store) releaseLocked() {
	b := s.big
	if b == nil || s.present.total == 0 {
		return
	}
	switch s.phase {
	case phaseEvicting, phaseFailed, phaseClosed:
		return
	}
	size := s.rem.Size
	share := s.shareLocked()
	behind, ahead := s.behindLocked(share), s.aheadLocked(share)
	var keep rangeSet
	for _, p := range b.pins {
		keep.add(p.start, p.end)
	}
	for _, f := range s.fetches {
		keep.add(f.pos, f.end)
		keep.add(f.dirty.start, f.dirty.end) // written, not yet marked (disk.go)
	}
	for _, w := range s.waiters {
		keep.add(w.off, w.end)
	}
	low := size
	for _, c := range b.cursors {
		keep.add(max(c.pos-behind, 0), min(c.pos+ahead, size))
		low = min(low, max(c.pos-behind, 0))
	}
	if len(b.cursors) == 0 {
		low = 0
	}
	var spare []span // released only over the share, the highest first
	for _, p := range slices.Clone(s.present.spans) {
		for pos := p.start; pos < p.end; {
			a := keep.nextMissing(pos, p.end)
			if a >= p.end {
				break
			}
			e := keep.nextPresent(a, p.end)
			if a < low {
				s.releaseRangeLocked(a, min(e, low))
			}
			if e > low {
				spare = append(spare, span{max(a, low), e})
			}
			pos = e
		}
	}
	for i := len(spare) - 1; i >= 0 && s.present.total > share; i-- {
		sp := spare[i]
		s.releaseRangeLocked(max(sp.start, sp.end-(s.present.total-share)), sp.end)
	}
}

// releaseRangeLocked takes [a, e) out of the range set and has punchLoop
// punch its hole.
func (s *Store) releaseRangeLocked(a, e int64) {
	if a >= e {
		return
	}
	b := s.big
	start := len(b.punching) == 0 // else the running punchLoop takes it
	b.punching = append(b.punching, span{a, e})
	s.present.remove(a, e)
	s.rechargeLocked()
	if start {
		// Started under s.mu before phaseClosed, as fetchers are, so
		// close's wait for fetchWG covers it.
		s.fetchWG.Add(1)
		go s.punchLoop()
	}
}

// punchingLocked is how many bytes are released but not punched yet: on
// disk still.
func (s *Store) punchingLocked() int64 {
	var n int64
	if s.big != nil {
		for _, p := range s.big.punching {
			n += p.end - p.start
		}
	}
	return n
}

// punchLoop punches the holes of the released ranges, one at a time,
// without s.mu, and lets the reads and readahead held off by each go on.
// It returns when none is left; an evicted or closed store drops the rest
// (an eviction empties the whole file anyway).
func (s *Store) punchLoop() {
	defer s.fetchWG.Done()
	b := s.big
	for {
		s.mu.Lock()
		if s.phase == phaseEvicting || s.phase == phaseClosed {
			b.punching = nil
			s.rechargeLocked()
		}
		if len(b.punching) == 0 {
			s.mu.Unlock()
			return
		}
		sp := b.punching[0]
		s.mu.Unlock()

		f, err := s.file.acquire()
		if err == nil {
			err = punchHole(f, sp.start, sp.end-sp.start)
			s.file.release()
		}

		s.mu.Lock()
		b.punching = slices.Delete(b.punching, 0, 1) // sp: only this loop takes from the list
		if err != nil && !b.noPunch && !errors.Is(err, ErrClosed) {
			b.noPunch = true
			if errors.Is(err, errors.ErrUnsupported) {
				s.log.Warn("the cache disk cannot punch holes: released bytes are fetched again when read, but their disk space is not given back", "dir", s.m.runDir)
			} else {
				s.log.Warn("cannot release bytes from the temp file; they are fetched again when read", "dir", s.m.runDir, "err", err)
			}
		}
		s.rechargeLocked()
		s.scheduleLocked()
		s.mu.Unlock()
	}
}

// punchEndLocked returns the end of the range being punched that holds
// byte m, or -1: no fetch may write there until its hole is punched.
func (s *Store) punchEndLocked(m int64) int64 {
	if s.big == nil {
		return -1
	}
	for _, p := range s.big.punching {
		if p.start <= m && m < p.end {
			return p.end
		}
	}
	return -1
}

// nextPunchLocked returns the start of the first range being punched
// after m, or limit.
func (s *Store) nextPunchLocked(m, limit int64) int64 {
	if s.big == nil {
		return limit
	}
	for _, p := range s.big.punching {
		if p.start > m && p.start < limit {
			limit = p.start
		}
	}
	return limit
}

// bigReadaheadLocked is readahead for a big file: after each reader, as far
// as its part of the share, and never more in flight than fits beside the
// bytes held; no background fill of the rest of the file.
func (s *Store) bigReadaheadLocked(ahead, conns int) {
	o := s.m.opts
	b := s.big
	share := s.shareLocked()
	window := s.aheadLocked(share)
	room := share - s.present.total - s.punchingLocked()
	for _, f := range s.fetches {
		room -= f.end - f.pos
	}
	for i := len(b.cursors) - 1; i >= 0; i-- { // most recent reader first
		c := b.cursors[i]
		limit := min(c.pos+window, s.rem.Size)
		for ahead < conns && len(s.fetches) < o.MaxFetchers && room > 0 {
			m := s.nextFreeLocked(c.pos)
			if m < 0 || m >= limit {
				break
			}
			end := min(s.claimEndLocked(m), limit, m+room)
			room -= end - m
			s.startFetchLocked(&fetch{pos: m, end: end, readahead: true})
			ahead++
		}
	}
}

// forgetSaved empties the temp file at path, of size bytes, that an
// earlier run left to a file that is streamed now: the bytes are not
// resumed, as a checkpoint of this run could not say which of them a
// release punched before a crash, and they would be disk use the share
// does not count.
func forgetSaved(path string, size int64) error {
	err := os.Truncate(path, 0)
	if err == nil {
		err = os.Truncate(path, size)
	}
	if err != nil {
		return fmt.Errorf("empty the temp file of a file streamed through the cache: %w", err)
	}
	return nil
}

// streamingLocked is the share a big file streams through, 0 for others.
func (s *Store) streamingLocked() int64 {
	if s.big == nil {
		return 0
	}
	return s.shareLocked()
}
