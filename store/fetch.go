package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"fsm/internal/redact"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fetch is one origin request filling [pos, end). pos advances as bytes land;
// end may shrink when a far read splits the claim, and the fetcher stops when
// pos reaches it.
type fetch struct {
	pos, end   int64
	epoch      int
	stream     bool      // whole-body GET for an origin that ignores Range
	readahead  bool      // started by readahead, not by a waiting read
	plainRange bool      // send Range without If-Range (see run)
	from       int64     // pos when started, and when: the fetch's rate
	began      time.Time // tells how soon it reaches a byte
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

// errNoRange: the origin answered a ranged GET with the whole unchanged file.
var errNoRange = errors.New("origin ignores Range")

// statusError is an unexpected HTTP status from the origin.
type statusError struct {
	code   int
	status string
}

func (e *statusError) Error() string { return "origin answered " + e.status }

// refused: the statuses an expired signed URL gets.
func (e *statusError) refused() bool {
	switch e.code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusGone:
		return true
	}
	return false
}

// errReresolve: the redirect target refused us; the next attempt goes to the
// staged URL again.
var errReresolve = errors.New("redirect target refused the request; following the staged URL again")

func retriable(err error) bool {
	if errors.Is(err, errReresolve) {
		return true
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	return !errors.Is(err, ErrChanged) && !errors.Is(err, errWrite)
}

var errWrite = errors.New("write temp file")

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// schedule starts the fetches the current waiters and the readahead need.
// Called with s.mu held whenever waiters, fetches or the present set change.
func (s *Store) schedule() {
	if s.closed || s.permErr != nil || s.evicting {
		return
	}
	size := s.src.Size
	if s.stream {
		if len(s.fetches) == 0 && s.present.total < size && (len(s.waiters) > 0 || (s.started && !s.stalled)) {
			s.startFetch(&fetch{pos: 0, end: size, stream: true})
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
			if f := s.claimAt(m); f != nil {
				if f.reachesSoon(m, o.NearWindow, time.Now()) {
					pos = f.end
					continue
				}
				// The fetcher that owns m will not reach it soon: split
				// its claim and fetch from m now.
				nf := &fetch{pos: m, end: f.end}
				f.end = m
				s.startFetch(nf)
				pos = nf.end
				continue
			}
			// A read-triggered claim stays short so that many random
			// readers each get their bytes soon; readahead takes long claims.
			nf := &fetch{pos: m, end: min(s.claimEnd(m), max(w.end, m+o.DemandChunk))}
			s.startFetch(nf)
			pos = nf.end
		}
	}
	if !s.started || s.stalled {
		return
	}
	// Readahead and background fill: keep s.conns fetchers busy on the
	// bytes after the latest read, then wrap around to the start. Fetches
	// started for waiting reads do not count: they are short, and a
	// sequential reader must not end up fetching in their small steps.
	ahead := 0
	for _, f := range s.fetches {
		if f.readahead {
			ahead++
		}
	}
	for ; ahead < s.conns && len(s.fetches) < o.MaxFetchers; ahead++ {
		m := s.nextFree(s.cursor)
		if m < 0 {
			m = s.nextFree(0)
		}
		if m < 0 {
			return
		}
		s.startFetch(&fetch{pos: m, end: s.claimEnd(m), readahead: true})
	}
}

// claimAt returns the fetch whose remaining claim holds byte m.
func (s *Store) claimAt(m int64) *fetch {
	for _, f := range s.fetches {
		if !f.stream && f.pos <= m && m < f.end {
			return f
		}
	}
	return nil
}

// nextFree returns the first byte >= from neither present nor claimed, or -1.
func (s *Store) nextFree(from int64) int64 {
	size := s.src.Size
	for from < size {
		m := s.present.nextMissing(from, size)
		if m >= size {
			return -1
		}
		f := s.claimAt(m)
		if f == nil {
			return m
		}
		from = f.end
	}
	return -1
}

// claimEnd bounds a new claim starting at the free byte m: one chunk, cut at
// the next present byte or the next claim.
func (s *Store) claimEnd(m int64) int64 {
	end := min(m+s.m.opts.ChunkSize, s.present.nextPresent(m, s.src.Size))
	for _, f := range s.fetches {
		if f.pos > m && f.pos < end {
			end = f.pos
		}
	}
	return end
}

func (s *Store) startFetch(f *fetch) {
	f.epoch = s.epoch
	f.from, f.began = f.pos, time.Now()
	s.fetches = append(s.fetches, f)
	s.fetchWG.Add(1)
	go s.run(s.ctx, f)
}

// run drives one fetch to its end, retrying transient failures with backoff.
func (s *Store) run(ctx context.Context, f *fetch) {
	defer s.fetchWG.Done()
	o := s.m.opts
	failures := 0
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
		if err == nil || f.pos >= f.end || ctx.Err() != nil || f.epoch != s.epoch {
			break
		}
		if errors.Is(err, errNoRange) && !f.plainRange && s.dateIfRange() {
			// Some servers answer a date If-Range with the whole file
			// rather than compare it. Ask once more without it: the
			// validators on the 206 still guard the version.
			f.plainRange = true
			continue
		}
		if errors.Is(err, errNoRange) {
			if !s.stream {
				s.log.Info("origin ignores Range; reading it as one stream")
				s.stream = true
			}
			break
		}
		if errors.Is(err, ErrChanged) {
			s.permErr = fmt.Errorf("%s: %w", s.src.Name, err)
			s.log.Error("download failed for good", "err", err)
			s.wake(s.permErr)
			break
		}
		if f.pos > best {
			best, failures = f.pos, 0
		}
		failures++
		s.lastErr = err
		if !retriable(err) || failures > o.Retries {
			s.log.Error("download failed", "url", redact.URL(s.src.URL), "offset", f.pos, "attempts", failures, "err", err)
			s.stalled = true
			s.failWaiters(f.pos, f.end, fmt.Errorf("download %s: %w", redact.URL(s.src.URL), err))
			break
		}
		delay := min(o.RetryBase<<(failures-1), o.RetryMax)
		s.log.Warn("download interrupted; retrying", "offset", f.pos, "attempt", failures, "in", delay, "err", err)
		s.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		s.mu.Lock()
	}
	for i, x := range s.fetches {
		if x == f {
			s.fetches = append(s.fetches[:i], s.fetches[i+1:]...)
			break
		}
	}
	s.schedule()
	s.mu.Unlock()
}

// fetchOnce issues one request for the rest of f and copies the body into
// the temp file until f is done, the body ends, or an error occurs.
func (s *Store) fetchOnce(parent context.Context, f *fetch) error {
	s.mu.Lock()
	start, end := f.pos, f.end
	u := s.fetchURL
	s.mu.Unlock()

	// A watchdog cancels the request when the origin stalls, so a silent
	// connection turns into a retry rather than a reader waiting forever.
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	idle := s.m.opts.StallTimeout
	watchdog := time.AfterFunc(idle, func() { cancel(fmt.Errorf("origin sent nothing for %s", idle)) })
	defer watchdog.Stop()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrChanged, err)
	}
	if !f.stream {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end-1))
		if v := s.ifRange(); v != "" && !f.plainRange {
			req.Header.Set("If-Range", v)
		}
	}
	resp, err := s.m.opts.Client.Do(req)
	if err != nil {
		redact.Error(err)
		if c := context.Cause(ctx); c != nil && parent.Err() == nil {
			return c
		}
		return err
	}
	defer resp.Body.Close()
	if final := resp.Request.URL.String(); final != u {
		s.mu.Lock()
		s.fetchURL = final
		s.mu.Unlock()
	}
	if err := s.checkResponse(resp, f.stream, start, end); err != nil {
		var se *statusError
		if errors.As(err, &se) && u != s.src.URL && se.refused() {
			// Signed redirect targets expire (minutes, for many CDNs);
			// the staged URL still leads to a fresh one.
			s.mu.Lock()
			s.fetchURL = s.src.URL
			s.mu.Unlock()
			return fmt.Errorf("%w: %w", errReresolve, err)
		}
		return err
	}

	// One measurement per request: an origin that sends its first MiB
	// slower than FastConnection limits each connection (as CDNs do), so
	// more connections make the file arrive sooner. A faster one is left
	// with one: on such origins parallel writes only cost CPU.
	began := time.Now()
	s.mu.Lock()
	measured := s.conns >= s.m.opts.Connections
	s.mu.Unlock()

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	pos := start
	for {
		s.mu.Lock()
		limit := f.end
		s.mu.Unlock()
		if pos >= limit {
			return nil
		}
		want := min(int64(len(buf)), limit-pos)
		// Wait for a decent slice (not every TCP segment) but never hold
		// bytes back longer than the origin takes to send 64 KiB.
		n, rerr := io.ReadAtLeast(resp.Body, buf[:want], int(min(want, 64<<10)))
		if n > 0 {
			watchdog.Reset(idle)
			if err := s.put(buf[:n], pos, f.stream); err != nil {
				return err
			}
			s.markPresent(f, pos, pos+int64(n))
			if pos == start {
				// After the first bytes are out, not before: reserving
				// a large file's blocks takes milliseconds (about 1.5
				// per GiB here) that the first byte need not wait for.
				s.preallocate()
			}
			pos += int64(n)
			if !measured && pos-start >= 1<<20 {
				measured = true
				s.noteRate(float64(pos-start) / time.Since(began).Seconds())
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
			if pos >= limit {
				return nil
			}
			return fmt.Errorf("origin closed the connection at byte %d: %w", pos, io.ErrUnexpectedEOF)
		default:
			if c := context.Cause(ctx); c != nil && parent.Err() == nil {
				return c
			}
			return rerr
		}
	}
}

// put writes b at off. A restarted whole-body stream replays bytes that are
// already present (and may have been read): those are compared, not
// rewritten, so a file that changed at an origin without validators fails
// with ErrChanged instead of mixing two versions.
func (s *Store) put(b []byte, off int64, replay bool) error {
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
			if _, err := s.file.ReadAt(old, p); err != nil {
				return fmt.Errorf("%w %s: read back: %w", errWrite, s.path, err)
			}
			if !bytes.Equal(old, b[p-off:m-off]) {
				return fmt.Errorf("%w: a restarted download sent other bytes at offset %d", ErrChanged, p)
			}
		}
		if q > m {
			if _, err := s.file.WriteAt(b[m-off:q-off], m); err != nil {
				return fmt.Errorf("%w %s: %w", errWrite, s.path, err)
			}
		}
		p = q
	}
	return nil
}

// noteRate widens readahead to all Connections when one connection is slow.
func (s *Store) noteRate(bytesPerSec float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytesPerSec < float64(s.m.opts.FastConnection) && s.conns < s.m.opts.Connections {
		s.log.Debug("origin is slow per connection; fetching over more", "rate", int64(bytesPerSec), "connections", s.m.opts.Connections)
		s.conns = s.m.opts.Connections
		s.schedule()
	}
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
		s.recharge()
		s.wake(nil)
	}
}

// dateIfRange reports whether If-Range carries a date (no strong ETag).
func (s *Store) dateIfRange() bool {
	v := s.ifRange()
	return v != "" && !strings.HasPrefix(v, `"`)
}

// ifRange is the validator that makes the origin refuse to mix versions: a
// strong ETag, else the Last-Modified date (weak ETags are not allowed here).
func (s *Store) ifRange() string {
	if e := s.src.ETag; e != "" && !strings.HasPrefix(e, "W/") {
		return e
	}
	if !s.src.LastModified.IsZero() {
		return s.src.LastModified.UTC().Format(http.TimeFormat)
	}
	return ""
}

// checkResponse verifies that resp carries the staged version's bytes
// starting exactly at start.
func (s *Store) checkResponse(resp *http.Response, stream bool, start, end int64) error {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if stream {
			return fmt.Errorf("%w: 206 to a request without Range", ErrChanged)
		}
		if err := s.sameVersion(resp); err != nil {
			return err
		}
		a, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return err
		}
		if total >= 0 && total != s.src.Size {
			return fmt.Errorf("%w: size is now %d, was %d", ErrChanged, total, s.src.Size)
		}
		if a != start {
			return fmt.Errorf("origin sent bytes from %d when asked for %d (Content-Range %q)", a, start, resp.Header.Get("Content-Range"))
		}
		return nil
	case http.StatusOK:
		if err := s.sameVersion(resp); err != nil {
			return err
		}
		if resp.ContentLength >= 0 && resp.ContentLength != s.src.Size {
			return fmt.Errorf("%w: size is now %d, was %d", ErrChanged, resp.ContentLength, s.src.Size)
		}
		if !stream {
			// With If-Range sent, a 200 from a Range-capable origin means
			// the validator no longer matched; sameVersion caught the
			// common case, and an origin without validators that answers
			// 200 to Range simply ignores it.
			return errNoRange
		}
		return nil
	case http.StatusRequestedRangeNotSatisfiable:
		return fmt.Errorf("%w: origin answered 416 for bytes %d-%d (file got shorter)", ErrChanged, start, end-1)
	default:
		return &statusError{code: resp.StatusCode, status: resp.Status}
	}
}

// sameVersion compares the response's validators with the staged ones.
func (s *Store) sameVersion(resp *http.Response) error {
	if e := resp.Header.Get("ETag"); e != "" && s.src.ETag != "" && strings.TrimPrefix(e, "W/") != strings.TrimPrefix(s.src.ETag, "W/") {
		return fmt.Errorf("%w: ETag is now %s, was %s", ErrChanged, e, s.src.ETag)
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" && !s.src.LastModified.IsZero() {
		t, err := http.ParseTime(lm)
		if err == nil && !t.Equal(s.src.LastModified.Truncate(time.Second)) {
			return fmt.Errorf("%w: Last-Modified is now %s, was %s", ErrChanged, lm, s.src.LastModified.UTC().Format(http.TimeFormat))
		}
	}
	return nil
}

// parseContentRange parses "bytes a-b/total" (total may be "*": -1).
func parseContentRange(v string) (start, total int64, err error) {
	bad := fmt.Errorf("origin sent a malformed Content-Range %q", v)
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, bad
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || last < start {
		return 0, 0, bad
	}
	if tot == "*" {
		return start, -1, nil
	}
	total, err = strconv.ParseInt(tot, 10, 64)
	if err != nil {
		return 0, 0, bad
	}
	return start, total, nil
}
