package store

import (
	"os"
	"time"
)

// This file decides which byte ranges are fetched, and when: demand fetches
// for waiting reads first, then readahead and the background fill.

// fetch is one origin request filling [pos, end). pos advances as bytes land;
// end may shrink when a far read splits the claim, and the fetcher stops when
// pos reaches it. pos and end are guarded by Store.mu; the rest is set
// before the fetcher starts.
type fetch struct {
	pos, end   int64
	epoch      int
	stream     bool      // whole-body GET (see the package doc)
	readahead  bool      // started by readahead, not by a waiting read
	plainRange bool      // send Range without If-Range (see run)
	from       int64     // pos when started, and when: the fetch's rate
	began      time.Time // tells how soon it reaches a byte
	out        *os.File  // the temp file, held open by the fetcher while it runs
	// dirty is what the fetcher may have written and not marked present
	// yet, set under Store.mu before each write: a failed reservation's
	// give-back leaves it alone (disk.go).
	dirty span
}

// reachesSoon reports whether f will fetch byte m within splitETA: a read
// waiting for m then waits for f rather than splitting its claim (which costs
// a new request and cuts f's connection). Unknown rates count as slow.
func (f *fetch) reachesSoon(m, near int64, now time.Time) bool {
	d := m - f.pos
	if d <= near {
		return true
	}
	done, took := f.pos-f.from, now.Sub(f.began)
	if done <= 0 || took <= 0 {
		return false
	}
	return time.Duration(float64(d)/float64(done)*float64(took)) <= splitETA
}

// splitETA: a read whose bytes a running fetch brings within this time
// waits for it.
const splitETA = 100 * time.Millisecond

// scheduleLocked starts the fetches the current waiters and the readahead
// need. It runs whenever waiters, fetches or the present set change.
func (s *Store) scheduleLocked() {
	switch s.phase {
	case phaseEvicting, phaseFailed, phaseClosed:
		return
	}
	size := s.rem.Size
	fill := s.phase == phaseFilling
	if s.stream {
		if len(s.fetches) == 0 && s.present.total < size && (len(s.waiters) > 0 || fill) {
			s.startFetchLocked(&fetch{pos: 0, end: size, stream: true})
		}
		return
	}
	o := s.m.opts
	// Demand first: every gap inside a waiting read gets a fetcher that is
	// already close to it, or a new one starting right at the gap.
	for _, w := range s.waiters {
		pos := w.off
		for pos < w.end && len(s.fetches) < o.MaxFetchers {
			m := s.present.nextMissing(pos, w.end)
			if m >= w.end {
				break
			}
			if e := s.punchEndLocked(m); e >= 0 {
				pos = e // fetched once punched (punchLoop schedules again)
				continue
			}
			if f := s.claimAtLocked(m); f != nil {
				if f.reachesSoon(m, o.NearWindow, time.Now()) {
					pos = f.end
					continue
				}
				// The fetcher that owns m will not reach it soon: split
				// its claim and fetch from m now.
				nf := &fetch{pos: m, end: f.end}
				f.end = m
				s.startFetchLocked(nf)
				pos = nf.end
				continue
			}
			// A read-triggered claim stays short so that many random
			// readers each get their bytes soon; readahead takes long claims.
			nf := &fetch{pos: m, end: min(s.claimEndLocked(m), max(w.end, m+o.DemandChunk))}
			s.startFetchLocked(nf)
			pos = nf.end
		}
	}
	if !fill {
		return
	}
	// Readahead and background fill: keep that many fetchers busy on the
	// bytes after the latest read, then wrap around to the start. Fetches
	// started for waiting reads do not count: they are short, and a
	// sequential reader must not end up fetching in their small steps.
	ahead, conns := 0, s.readaheadConnsLocked()
	for _, f := range s.fetches {
		if f.readahead {
			ahead++
		}
	}
	if s.big != nil {
		s.bigReadaheadLocked(ahead, conns)
		return
	}
	for ; ahead < conns && len(s.fetches) < o.MaxFetchers; ahead++ {
		m := s.nextFreeLocked(s.cursor)
		if m < 0 {
			m = s.nextFreeLocked(0)
		}
		if m < 0 {
			return
		}
		end := s.claimEndLocked(m)
		if conns > 1 {
			// Near the end, parallel claims shrink so that they finish
			// together rather than leave the last chunk to one connection.
			end = min(end, m+max(tailChunk, (s.rem.Size-m)/int64(conns)))
		}
		s.startFetchLocked(&fetch{pos: m, end: end, readahead: true})
	}
}

// tailChunk is the smallest claim parallel readahead shrinks to.
const tailChunk = 1 << 20

// claimAtLocked returns the fetch whose remaining claim holds byte m.
func (s *Store) claimAtLocked(m int64) *fetch {
	for _, f := range s.fetches {
		if !f.stream && f.pos <= m && m < f.end {
			return f
		}
	}
	return nil
}

// nextFreeLocked returns the first byte >= from neither present, claimed
// nor being punched, or -1.
func (s *Store) nextFreeLocked(from int64) int64 {
	size := s.rem.Size
	for from < size {
		m := s.present.nextMissing(from, size)
		if m >= size {
			return -1
		}
		if e := s.punchEndLocked(m); e >= 0 {
			from = e
			continue
		}
		f := s.claimAtLocked(m)
		if f == nil {
			return m
		}
		from = f.end
	}
	return -1
}

// claimEndLocked bounds a new claim starting at the free byte m: one chunk,
// cut at the next present byte, the next claim or the next range being
// punched.
func (s *Store) claimEndLocked(m int64) int64 {
	end := min(m+s.m.opts.ChunkSize, s.present.nextPresent(m, s.rem.Size))
	end = s.nextPunchLocked(m, end)
	for _, f := range s.fetches {
		if f.pos > m && f.pos < end {
			end = f.pos
		}
	}
	return end
}

func (s *Store) startFetchLocked(f *fetch) {
	f.epoch = s.epoch
	f.from, f.began = f.pos, time.Now()
	s.fetches = append(s.fetches, f)
	s.noteStartLocked()
	s.fetchWG.Add(1)
	go s.run(s.ctx, f)
}

// removeFetchLocked forgets a finished fetch.
func (s *Store) removeFetchLocked(f *fetch) {
	for i, x := range s.fetches {
		if x == f {
			s.fetches = append(s.fetches[:i], s.fetches[i+1:]...)
			return
		}
	}
}
