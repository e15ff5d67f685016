package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Source is what the caller asks for: which remote file, under what name,
// with which headers. What the origin tells about it is a Remote.
type Source struct {
	Name string // for logs and errors
	URL  string // as staged: resolved again when the redirect target stops working
	// Header is sent with every request to URL and to redirect targets on
	// URL's host (Authorization, Cookie, ...). It is never logged nor put
	// in an error.
	Header http.Header
}

// State is a coarse summary of a store for listings.
type State string

const (
	StateIdle        State = "idle"        // nothing requested yet, or evicted
	StateDownloading State = "downloading" // fetchers running
	StateComplete    State = "complete"    // every byte present
	StateError       State = "error"       // gave up after retries; the next read tries again
	StateFailed      State = "failed"      // permanent (origin changed); reads fail
)

// Progress is a snapshot for the API and page.
type Progress struct {
	Size     int64
	Present  int64 // bytes in the temp file
	Handles  int
	Readers  int       // ReadAt calls in flight
	Rate     float64   // bytes/s received over the last few seconds; 0 when idle
	Conns    int       // TCP connections in use (a response of this file being read on it)
	Protocol string    // what the last response came over: "http/1.1", "h2"; "" before any
	Retrying *Retrying // while fetches fail and are retried; nil otherwise
	// Streaming is, for a file that does not fit in the cache, the share
	// of the cache it streams through (release.go); 0 for others.
	Streaming  int64
	State      State
	Err        error
	LastAccess time.Time
}

// Store is one staged remote file. All methods are safe for concurrent use.
type Store struct {
	m      *Manager
	src    Source // never changes
	rem    Remote // what the probe learned, with the size a whole download found; never changes
	origin origin // the protocol side of fetching; set at creation (tests may swap it before the first read)
	path   string
	file   tempFile // opened while in use
	log    *slog.Logger
	gate   gate // has its own lock, taken after mu

	fetchWG  sync.WaitGroup
	finish   sync.Once // close's teardown
	closeErr error     // written once inside finish
	// spliced counts the bytes that reached the file by splice (see
	// splice.go), so tests can tell that path was taken.
	spliced atomic.Int64

	// mu guards every field below, the pos and end of each fetch in
	// fetches, and the waiters' err. See the package doc for the lock order.
	mu         sync.Mutex
	phase      phase
	res        reservation
	present    rangeSet
	fetches    []*fetch
	waiters    []*waiter
	handles    int
	staged     bool
	stream     bool       // one whole-body fetch at a time (see the package doc)
	big        *bigFile   // set by newStore for a file that does not fit (release.go); nil for others
	pathOpens  int        // CopyTo calls holding a descriptor of their own (cachedir.go)
	dig        *digests   // block checksums of a file without validators; used by its one stream fetcher at a time
	epoch      int        // bumped by evict: fetchers of an older epoch mark nothing present
	cursor     int64      // end of the latest read: readahead starts here
	choice     connChoice // how many readahead connections (see conns.go)
	charged    int64      // disk use last reported to the manager
	fetched    int64
	meter      meter       // recent receive rate
	open       map[any]int // connections with a response being read → how many
	proto      string      // the protocol of the last response
	dl         *download   // the download under way, for its log lines; nil if none
	out        *outage     // the origin's current run of failures; nil if none
	lastErr    error
	permErr    error      // why the store is failed (phaseFailed)
	ckpt       checkpoint // the last Checkpoint, or what close kept (persist.go)
	closedFrom phase      // the phase close ended, for what it keeps
	lastAccess time.Time
	ctx        context.Context // cancelled on close and eviction
	cancel     context.CancelFunc
}

type waiter struct {
	off, end int64
	ch       chan struct{}
	err      error
	pinned   bool // woken with its bytes present, which stay until it runs (release.go)
}

// newStore makes the store for src, as rem describes it, over the temp file
// at path, which holds all rem.Size bytes when complete.
func newStore(m *Manager, src Source, rem Remote, path string, complete bool) *Store {
	s := &Store{
		m:          m,
		src:        src,
		rem:        rem,
		path:       path,
		file:       tempFile{path: path},
		log:        m.log.With("file", src.Name),
		staged:     true,
		stream:     rem.NoRange || !rem.Verified(),
		lastAccess: time.Now(),
	}
	s.origin = newHTTPOrigin(m, &s.src, &s.rem)
	if !rem.Verified() {
		s.dig = newDigests()
	}
	// A file read as one stream from its start cannot be released behind
	// its reader: a restarted stream compares what it replays.
	if pool := m.bigPool(rem.Size); pool > 0 && !complete && !s.stream {
		s.big = &bigFile{pool: pool}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if complete {
		s.present.add(0, rem.Size)
	}
	return s
}

// ReadAt reads len(p) bytes at off, waiting until they are present. Only the
// real end of the file gives a short read (with io.EOF).
func (s *Store) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if !s.gate.enter() {
		return 0, ErrClosed
	}
	defer s.gate.leave()
	if off < 0 {
		return 0, fmt.Errorf("read %s at %d: negative offset", s.src.Name, off)
	}
	if off >= s.rem.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	end := min(off+int64(len(p)), s.rem.Size)
	var f *os.File
	for f == nil {
		avail, err := s.waitFor(ctx, off, end, end)
		if err != nil {
			return 0, err
		}
		if f, err = s.file.acquire(); errors.Is(err, os.ErrNotExist) {
			// Gone with the cache dir: wait for the bytes again.
			err = s.renewTemp()
		}
		if f == nil {
			s.unpin(off, avail)
		} else {
			defer s.unpin(off, avail) // once: the loop ends here
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", s.src.Name, err)
		}
	}
	defer s.file.release()
	n, err := f.ReadAt(p[:end-off], off)
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == end-off) {
		return n, fmt.Errorf("read %s at %d from temp file: %w", s.src.Name, off, err)
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// waitFor blocks until [off, need) is present, starting fetches as needed,
// and returns where the run of present bytes from off ends, capped at limit.
func (s *Store) waitFor(ctx context.Context, off, need, limit int64) (int64, error) {
	s.mu.Lock()
	s.lastAccess = time.Now()
	s.cursor = need
	s.noteReadLocked(off, need)
	if s.phase == phaseIdle || s.phase == phaseStalled {
		s.phase = phaseFilling
		s.lastErr = nil
	}
	for {
		switch {
		case s.phase == phaseClosed:
			s.mu.Unlock()
			return 0, ErrClosed
		case s.phase == phaseFailed:
			// Even bytes already here fail: the file as staged can no
			// longer be read to its end, and an upload of it must not
			// appear to succeed halfway.
			err := s.permErr
			s.mu.Unlock()
			return 0, err
		case s.present.contains(off, need):
			avail := s.present.nextMissing(off, limit)
			s.pinLocked(off, avail) // unpinned by the caller once it has read
			s.releaseLocked()
			s.mu.Unlock()
			return avail, nil
		}
		w := &waiter{off: off, end: need, ch: make(chan struct{})}
		s.waiters = append(s.waiters, w)
		s.scheduleLocked()
		s.mu.Unlock()

		// close wakes every waiter with ErrClosed, so w.ch is all there is
		// to wait for besides the reader's own context.
		select {
		case <-w.ch:
		case <-ctx.Done():
			s.mu.Lock()
			s.dropWaiterLocked(w)
			s.unpinWokenLocked(w)
			s.mu.Unlock()
			return 0, fmt.Errorf("read %s at %d: %w", s.src.Name, off, ctx.Err())
		}
		s.mu.Lock()
		s.unpinWokenLocked(w) // the loop pins what it reads
		if errors.Is(w.err, ErrClosed) {
			s.mu.Unlock()
			return 0, ErrClosed
		}
		if w.err != nil {
			s.mu.Unlock()
			return 0, fmt.Errorf("read %s at %d: %w", s.src.Name, off, w.err)
		}
	}
}

// CopyTo writes [off, off+n) to w as the bytes arrive. Each present run is
// handed to w as an *os.File section (io.LimitedReader over a file of its
// own), so a w that implements io.ReaderFrom, such as a net/http response,
// can send it with sendfile instead of copying it through user space; a
// streamed file's runs are copied (see copyRun).
func (s *Store) CopyTo(ctx context.Context, w io.Writer, off, n int64) (int64, error) {
	if !s.gate.enter() {
		return 0, ErrClosed
	}
	// The file is removed only once the gate is idle, so it can be opened
	// and read here for as long as this call lasts.
	defer s.gate.leave()
	if off < 0 || n < 0 || off+n > s.rem.Size {
		return 0, fmt.Errorf("copy %s [%d, +%d): outside the file's %d bytes", s.src.Name, off, n, s.rem.Size)
	}
	f, err := s.openPath()
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", s.src.Name, err)
	}
	defer s.closePath(f)
	end := off + n
	pos := off
	slice := int64(copySlice) // the first bytes go out as soon as there are a few
	for pos < end {
		// Ask for a slice worth a system call, then take whatever run of
		// present bytes follows it.
		avail, err := s.waitFor(ctx, pos, min(pos+slice, end), min(pos+copyMax, end))
		if err != nil {
			return pos - off, err
		}
		m, err := s.copyRun(w, f, pos, avail)
		pos += m
		if err != nil {
			return pos - off, err
		}
		if pos < avail {
			return pos - off, fmt.Errorf("copy %s at %d: temp file ended early: %w", s.src.Name, pos, io.ErrUnexpectedEOF)
		}
		s.mu.Lock()
		slice = nextSlice(s.meter.rate(time.Now()))
		s.mu.Unlock()
	}
	return n, nil
}

// nextSlice is what CopyTo waits for after its first run, given the rate
// the file's bytes arrive at: what they bring in about copyWait, between
// copySlice and copySliceMax. A reader that has caught up with a fast
// download then wakes once a MiB instead of at every 64 KiB the fetchers
// mark present: on two cores those wake-ups cost a TLS download a tenth to a
// fifth of its rate (same-run A/B: 455–456 against 367–424 MB/s). A slow
// origin's bytes still go out 64 KiB at a time.
func nextSlice(rate float64) int64 {
	return min(max(int64(rate*copyWait.Seconds()), copySlice), copySliceMax)
}

// copyRun copies [pos, avail), which waitFor pinned, from f to w.
func (s *Store) copyRun(w io.Writer, f *os.File, pos, avail int64) (int64, error) {
	defer s.unpin(pos, avail)
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		return 0, fmt.Errorf("copy %s: %w", s.src.Name, err)
	}
	src := &io.LimitedReader{R: f, N: avail - pos}
	if s.big == nil {
		return io.Copy(w, src)
	}
	// A streamed file's bytes are released behind its readers by hole
	// punches, and a punch zeroes in place the pages (folios) it covers
	// in part. sendfile hands a socket references to those very pages,
	// which it reads only as it sends, after this run is unpinned: a
	// lagging client would get zeros. So they are copied out, and the
	// socket holds bytes of its own.
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	return io.CopyBuffer(writerOnly{w}, src, *bp)
}

// writerOnly hides its Writer's ReadFrom (sendfile), so io.CopyBuffer
// copies through the buffer it is given.
type writerOnly struct{ io.Writer }

const (
	copySlice    = 64 << 10 // CopyTo waits for at least this much (or the end)
	copySliceMax = 1 << 20  // and, with a fast download, up to this much (nextSlice)
	copyWait     = 4 * time.Millisecond
	copyMax      = 4 << 20 // and sends at most this much per call
)

// failWaiters releases with err the waiters whose next missing byte lies in
// [from, to): the part a fetch gave up on. Others keep waiting for their own
// fetches (scheduleLocked starts one for any that has none).
func (s *Store) failWaitersLocked(from, to int64, err error) {
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if m := s.present.nextMissing(w.off, w.end); m >= from && m < to {
			w.err = err
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	clear(s.waiters[len(kept):])
	s.waiters = kept
}

func (s *Store) dropWaiterLocked(w *waiter) {
	for i, x := range s.waiters {
		if x == w {
			s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
			return
		}
	}
}

// wake releases waiters whose range is now present; with err != nil it
// releases every waiter with that error.
func (s *Store) wakeLocked(err error) {
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		switch {
		case err != nil:
			w.err = err
			close(w.ch)
		case s.present.contains(w.off, w.end):
			s.pinWokenLocked(w)
			close(w.ch)
		default:
			kept = append(kept, w)
		}
	}
	clear(s.waiters[len(kept):])
	s.waiters = kept
}

// OpenHandle adds an open-handle reference; false once the store is closing.
func (s *Store) OpenHandle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Unstaged with no handle left means close is on its way, even if it
	// has not taken the lock yet.
	if s.phase == phaseClosed || (!s.staged && s.handles == 0) {
		return false
	}
	s.file.pin()
	s.handles++
	s.lastAccess = time.Now()
	return true
}

// ReleaseHandle drops an open-handle reference and closes the store when it
// was the last reference and the file is no longer staged.
func (s *Store) ReleaseHandle(ctx context.Context) error {
	s.mu.Lock()
	if s.handles <= 0 {
		s.mu.Unlock()
		return fmt.Errorf("release %s: no open handle (released twice?)", s.src.Name)
	}
	s.handles--
	s.file.unpin()
	idle := s.handles == 0
	last := idle && !s.staged
	s.mu.Unlock()
	if last {
		return s.close(ctx)
	}
	if idle {
		s.m.kick()
	}
	return nil
}

// Unstage drops the staged reference; the store closes once no handle is open.
func (s *Store) Unstage(ctx context.Context) error {
	s.mu.Lock()
	s.staged = false
	last := s.handles == 0
	s.mu.Unlock()
	if last {
		return s.close(ctx)
	}
	return nil
}

// close stops new reads, wakes blocked ones with ErrClosed, waits (bounded by
// ctx) for in-flight reads to return, then stops downloads and removes the
// temp file (a persistent cache's shutdown keeps a staged file's). If ctx
// ends first the file is left in place and close may be called again.
// Calling close after it succeeded is harmless.
func (s *Store) close(ctx context.Context) error {
	idle := s.gate.close()
	s.mu.Lock()
	if s.phase != phaseClosed {
		s.closedFrom, s.phase = s.phase, phaseClosed
		s.cancel()
		s.wakeLocked(ErrClosed)
	}
	s.mu.Unlock()

	// idle first: with nothing in flight, an expired ctx must not fail close.
	select {
	case <-idle:
	default:
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("close %s: %d reads still in flight: %w", s.src.Name, s.gate.busy(), ctx.Err())
		}
	}
	s.finish.Do(func() {
		// Fetchers are only started under s.mu before phaseClosed, so
		// every Add happened before this Wait.
		s.fetchWG.Wait()
		s.mu.Lock()
		keep := s.keepOnCloseLocked()
		s.mu.Unlock()
		if keep {
			s.keepLast()
		}
		s.mu.Lock()
		s.present.reset()
		s.res = resNone
		s.rechargeLocked()
		s.mu.Unlock()
		err := s.file.close()
		if keep {
			// the next run resumes from it
		} else if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
		if err != nil {
			s.closeErr = fmt.Errorf("close %s: %w", s.src.Name, err)
		}
		s.m.forget(s)
	})
	return s.closeErr
}

// rechargeLocked reports a change of this store's disk use to the manager,
// which enforces the cache budget on the total.
func (s *Store) rechargeLocked() {
	use := s.present.total + s.punchingLocked() // released bytes are on disk until punched
	if s.res == resHeld {
		use = s.rem.Size
	}
	if d := use - s.charged; d != 0 {
		s.charged = use
		s.m.grew(d)
		s.bigNoteLocked()
	}
}

// failLocked makes the store fail every read with err from now on.
func (s *Store) failLocked(err error) {
	if s.phase == phaseClosed {
		return
	}
	s.phase, s.permErr = phaseFailed, err
	s.wakeLocked(err)
}

// Size is the file's size in bytes. For a source staged without a known
// size it is the size the whole download found.
func (s *Store) Size() int64 { return s.rem.Size }

// Progress returns a snapshot of the store's state.
func (s *Store) Progress() Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := Progress{
		Size:       s.rem.Size,
		Present:    s.present.total,
		Handles:    s.handles,
		Readers:    s.gate.busy(),
		Conns:      len(s.open),
		Protocol:   s.proto,
		Retrying:   s.out.retrying(),
		LastAccess: s.lastAccess,
		Streaming:  s.streamingLocked(),
	}
	if len(s.fetches) > 0 {
		p.Rate = s.meter.rate(time.Now())
	}
	switch {
	case s.phase == phaseClosed:
		// Nothing is left of it: idle, as listings (which show only the
		// states above) would show a file not downloaded yet.
		p.State = StateIdle
	case s.phase == phaseFailed:
		p.State, p.Err = StateFailed, s.permErr
	case s.present.total == s.rem.Size:
		p.State = StateComplete
	case s.phase == phaseStalled && s.lastErr != nil:
		p.State, p.Err = StateError, s.lastErr
	case len(s.fetches) > 0:
		p.State, p.Err = StateDownloading, s.lastErr
	default:
		p.State = StateIdle
	}
	return p
}

// evict drops the downloaded bytes of an idle store to free disk space. The
// file stays staged; a later read downloads again. It refuses while any handle
// is open or any read is in flight.
func (s *Store) evict() (freed int64) { return s.evictIf(evictUnused) }

// Evict drops the downloaded bytes now, as the disk budget would: the file
// stays staged and a later read downloads again. It frees nothing (0) while
// a handle is open or a read is in flight, or when nothing is downloaded.
func (s *Store) Evict() (freed int64) { return s.evict() }

// evictScope says which stores an eviction may take.
type evictScope int

const (
	evictUnused evictScope = iota // no handle, no read: a background download may be stopped
	evictQuiet                    // nor any fetch: the store cannot be making room itself
)

func (s *Store) evictIf(scope evictScope) (freed int64) {
	s.mu.Lock()
	// A reader counted by the gate may already have found its bytes present
	// and be reading the file; one not yet counted will take s.mu after us and
	// find the set empty, so checking the gate under s.mu is enough.
	if s.phase == phaseClosed || s.phase == phaseEvicting || s.handles > 0 || s.gate.busy() > 0 || s.charged == 0 ||
		(scope == evictQuiet && len(s.fetches) > 0) {
		s.mu.Unlock()
		return 0
	}
	was := s.phase
	s.phase = phaseEvicting
	s.epoch++ // fetchers still finishing must not mark bytes present
	freed = s.charged
	s.present.reset()
	s.res = resNone
	s.rechargeLocked()
	s.dl = nil
	s.cancel()
	s.mu.Unlock()

	s.fetchWG.Wait()
	err := os.Truncate(s.path, 0)
	if err == nil {
		err = os.Truncate(s.path, s.rem.Size)
	}
	if errors.Is(err, os.ErrNotExist) {
		err = nil // gone with the cache dir: the next use makes it again (cachedir.go)
	}

	s.mu.Lock()
	// A fetcher reserving blocks when eviction began saw res reset and
	// left it alone, so nothing is charged for blocks that are gone.
	s.res = resNone
	s.rechargeLocked()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	switch {
	case err != nil:
		s.failLocked(fmt.Errorf("evict %s: reset temp file: %w", s.src.Name, err))
	case was == phaseFailed:
		s.phase = phaseFailed
	case len(s.waiters) > 0:
		s.phase = phaseFilling // reads arrived meanwhile
	default:
		s.phase = phaseIdle
	}
	s.scheduleLocked()
	s.mu.Unlock()
	s.log.Debug("evicted", "bytes", freed)
	return freed
}
