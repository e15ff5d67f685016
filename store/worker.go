package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"fsm/internal/redact"
	"fsm/internal/watchdog"
)

// This file is the fetch worker: one goroutine per fetch that sends range
// requests until its claim is filled, copying each body into the temp file.

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// run drives one fetch to its end, retrying transient failures with backoff.
func (s *Store) run(ctx context.Context, f *fetch) {
	defer s.fetchWG.Done()
	file, err := s.file.acquire()
	if err != nil {
		s.mu.Lock()
		s.removeFetchLocked(f)
		switch {
		case f.epoch != s.epoch:
		case errors.Is(err, os.ErrNotExist):
			// Gone with the cache dir (cachedir.go): start over in a new
			// file, or fail the reads of this range until that can be.
			if err := s.renewTempLocked(); err != nil {
				s.phase, s.lastErr = phaseStalled, err
				s.failWaitersLocked(f.pos, f.end, fmt.Errorf("%s: %w", s.src.Name, err))
			}
			s.scheduleLocked()
		default:
			s.failLocked(fmt.Errorf("%s: %w", s.src.Name, err))
		}
		s.mu.Unlock()
		return
	}
	defer s.file.release()
	f.out = file
	var streak failures
	s.mu.Lock()
	// Progress is this fetch reaching further than before, not bytes
	// received: a stream that keeps breaking inside the part it already
	// delivered makes none, and other fetches' progress does not count.
	best := f.pos
	for {
		if f.stream {
			f.pos = 0
		}
		s.mu.Unlock()
		err := s.fetchOnce(ctx, f)
		s.mu.Lock()
		if f.pos >= f.end || ctx.Err() != nil || f.epoch != s.epoch {
			break
		}
		if err == nil {
			continue // the origin sent fewer bytes than asked, honestly: ask for the rest
		}
		if f.pos > best {
			best, streak = f.pos, failures{}
		}
		delay, again := s.failedLocked(f, err, &streak)
		if !again {
			break
		}
		if delay > 0 {
			s.mu.Unlock()
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			s.mu.Lock()
		}
	}
	s.removeFetchLocked(f)
	s.scheduleLocked()
	s.mu.Unlock()
}

// failures is a fetch's run of failed attempts without progress.
type failures struct {
	n     int
	since time.Time // the first of them
}

// failedLocked decides what follows a failed attempt of f: another one
// after delay, or none. A fetch keeps trying for RetryBudget of failures
// without progress (and at least Retries attempts), so an outage shorter
// than that costs a wait, not the download.
func (s *Store) failedLocked(f *fetch, err error, streak *failures) (delay time.Duration, again bool) {
	switch {
	case errors.Is(err, errNoRange) && !f.plainRange && dateIfRange(&s.rem):
		// Some servers answer a date If-Range with the whole file rather
		// than compare it. Ask once more without it: the validators on the
		// 206 still guard the version.
		f.plainRange = true
		return 0, true
	case errors.Is(err, errNoRange):
		if !s.stream {
			s.log.Info("origin ignores Range; reading it as one stream")
			s.stream = true
		}
		return 0, false
	case errors.Is(err, ErrChanged):
		s.log.Error("download failed for good", "err", err)
		s.failLocked(fmt.Errorf("%s: %w", s.src.Name, err))
		return 0, false
	}
	s.restartWindowLocked()
	o := s.m.opts
	now := time.Now()
	if streak.n == 0 {
		streak.since = now
	}
	streak.n++
	s.lastErr = err
	left := o.RetryBudget - now.Sub(streak.since)
	if !retriable(err) || (streak.n > o.Retries && left <= 0) {
		s.noteGiveUpLocked(f.pos, err)
		s.phase = phaseStalled
		s.failWaitersLocked(f.pos, f.end, fmt.Errorf("download %s: %w", redact.URL(s.src.URL), err))
		return 0, false
	}
	delay = min(o.RetryBase<<min(streak.n-1, 30), o.RetryMax)
	var se *StatusError
	if errors.As(err, &se) && se.retryAfter > delay {
		// The origin says when to come back: wait that long, but not
		// past the budget (one more attempt then decides).
		delay = max(delay, min(se.retryAfter, left))
	}
	s.noteFailureLocked(f.pos, streak.n, delay, err)
	return delay, true
}

// fetchOnce issues one request for the rest of f and copies the body into
// the temp file until f is done, the body ends, or an error occurs.
func (s *Store) fetchOnce(parent context.Context, f *fetch) error {
	s.mu.Lock()
	q := ask{start: f.pos, end: f.end, ranged: !f.stream}
	plain := f.plainRange
	s.mu.Unlock()

	ctx, wd := watch(parent, s.m.opts.StallTimeout)
	defer wd.Stop()
	b, err := s.origin.open(parent, ctx, q, plain)
	if err != nil {
		return err
	}
	defer b.r.Close()
	// The connection is this file's while the body is read: counted once
	// however many of its fetches share it (HTTP/2 streams do).
	var key any = b.conn
	if b.conn == nil {
		key = b // unknown: one connection per body
	}
	s.mu.Lock()
	s.noteConnLocked(key, b.proto, +1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.noteConnLocked(key, "", -1)
		s.mu.Unlock()
	}()
	return s.copyBody(parent, ctx, wd, f, b.r, b.sp, q.start, b.end)
}

// copyBody copies body, the bytes from start up to the announced end, into
// the temp file until f's claim (which may shrink meanwhile) is filled. With
// sp, the body's connection splices what it can into the file itself.
func (s *Store) copyBody(parent, ctx context.Context, wd *watchdog.Dog, f *fetch, body io.Reader, sp splicer, start, announced int64) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var st *spliceTarget
	if sp != nil {
		var err error
		if st, err = newSpliceTarget(f.out); err != nil {
			sp = nil // out of descriptors, say: read and write instead
		} else {
			defer st.close()
		}
	}
	pos := start
	marked := start // bytes before it are marked present
	dig := s.dig
	if !f.stream {
		dig = nil // ranged fetches are guarded by validators
	} else if dig != nil {
		dig.restart()
	}
	for {
		s.mu.Lock()
		limit := min(f.end, announced)
		want := min(int64(len(buf)), limit-pos)
		f.dirty = span{marked, pos + max(want, 0)}
		ranges := s.res == resRanges
		s.mu.Unlock()
		if pos >= limit {
			return nil
		}
		if ranges {
			if err := s.reserveRange(f.out, pos, want, f.readahead); err != nil {
				return err
			}
		}
		n, k, rerr, werr := s.readBody(body, sp, st, buf[:want], pos)
		if werr != nil {
			return werr
		}
		if n > 0 {
			wd.Kick()
			// The first k bytes are in the file already (spliced); the
			// rest are in buf.
			s.spliced.Add(int64(k))
			if err := s.put(f.out, buf[k:n], pos+int64(k), f.stream); err != nil {
				return err
			}
			to := pos + int64(n)
			if k == 0 { // a stream's digests see every byte; streams never splice
				var err error
				if to, err = s.verifiedTo(dig, buf[:n], to); err != nil {
					return err
				}
			}
			if to > marked {
				s.markPresent(f, marked, to)
				marked = to
			}
			if pos == start && s.big == nil { // a big file is never reserved whole (release.go)
				// After the first bytes are out, not before: reserving
				// a large file's blocks takes milliseconds (about 1.5
				// per GiB here) that the first byte need not wait for.
				s.preallocate(f.out)
			}
			pos += int64(n)
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
			if pos >= limit {
				return nil
			}
			return fmt.Errorf("%w: it closed the connection at byte %d: %w", ErrNoAnswer, pos, io.ErrUnexpectedEOF)
		default:
			return requestError(parent, ctx, rerr)
		}
	}
}

// readBody reads the next bytes of body into buf, whose byte 0 is at pos in
// file. With sp the first k of the n bytes may have gone to the file
// directly. rerr is the origin's (the read), werr the file's.
func (s *Store) readBody(body io.Reader, sp splicer, t *spliceTarget, buf []byte, pos int64) (n, k int, rerr, werr error) {
	if sp != nil {
		t.aim(buf, pos)
	}
	if sp == nil || !sp.arm(t) {
		// Wait for a decent slice (not every TCP segment) but never hold
		// bytes back longer than the origin takes to send 64 KiB.
		n, rerr = io.ReadAtLeast(body, buf, min(len(buf), 64<<10))
		return n, 0, rerr, nil
	}
	// One Read: the connection sees buf itself only as the first byte of
	// a read, and then waits for 64 KiB on its own.
	n, rerr = body.Read(buf)
	sp.disarm(t)
	switch {
	case t.fileErr != nil:
		if diskFull(t.fileErr) {
			return 0, 0, nil, s.noSpaceErr()
		}
		return 0, 0, nil, fmt.Errorf("%w %s: %w", errWrite, s.path, t.fileErr)
	case t.spliced > n:
		// Cannot happen with net/http as it is; if it ever did, neither
		// the buffer nor the file could be trusted for these bytes.
		return 0, 0, nil, fmt.Errorf("%w %s: splice moved %d bytes of a %d-byte read", errWrite, s.path, t.spliced, n)
	}
	return n, t.spliced, rerr, nil
}

// verifiedTo feeds b, a stream's bytes up to to, to its digests (nil: none
// kept) and returns how far the stream may be marked present.
func (s *Store) verifiedTo(dig *digests, b []byte, to int64) (int64, error) {
	if dig == nil {
		return to, nil
	}
	err := dig.feed(b)
	if err == nil && to == s.rem.Size {
		err = dig.end()
	}
	if err != nil {
		return 0, err
	}
	return dig.safe(to), nil
}

// put writes b at off. A restarted whole-body stream replays bytes that are
// already present (and may have been read): those are compared, not
// rewritten, so a file that changed at an origin without validators fails
// with ErrChanged instead of mixing two versions.
func (s *Store) put(file *os.File, b []byte, off int64, replay bool) error {
	end := off + int64(len(b))
	for p := off; p < end; {
		m, q := p, end
		if replay {
			s.mu.Lock()
			m = s.present.nextMissing(p, end)
			q = s.present.nextPresent(m, end)
			s.mu.Unlock()
		}
		if m > p {
			old := make([]byte, m-p)
			if _, err := file.ReadAt(old, p); err != nil {
				return fmt.Errorf("%w %s: read back: %w", errWrite, s.path, err)
			}
			if !bytes.Equal(old, b[p-off:m-off]) {
				return fmt.Errorf("%w: a restarted download sent other bytes at offset %d", ErrChanged, p)
			}
		}
		if q > m {
			if _, err := file.WriteAt(b[m-off:q-off], m); err != nil {
				if diskFull(err) {
					return s.noSpaceErr()
				}
				return fmt.Errorf("%w %s: %w", errWrite, s.path, err)
			}
		}
		p = q
	}
	return nil
}

func (s *Store) markPresent(f *fetch, a, b int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetched += b - a
	if f.epoch != s.epoch {
		return
	}
	f.pos = max(f.pos, b)
	if added := s.present.add(a, b); added > 0 {
		s.m.arrived.Add(added)
		s.rechargeLocked()
		s.wakeLocked(nil)
		s.releaseLocked()
	}
	now := time.Now()
	if f.readahead {
		s.noteReadaheadLocked(b-a, now)
	}
	s.noteBytesLocked(b-a, now)
}

// dateIfRange reports whether If-Range carries a date (no strong ETag).
func dateIfRange(rem *Remote) bool {
	v := ifRange(rem)
	return v != "" && !strings.HasPrefix(v, `"`)
}
