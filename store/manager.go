package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Manager. Zero values pick the defaults noted.
type Options struct {
	Dir     string // cache directory (required)
	MaxSize int64  // disk budget in bytes; 0 means no limit
	// FreeMargin is what is left free on the cache disk when MaxSize is 0
	// (see disk.go): 0 picks max(1 GiB, 5 % of the disk), a negative
	// value none at all.
	FreeMargin int64
	Client     *http.Client // origin client; nil: a tuned default
	Logger     *slog.Logger // nil: slog.Default()
	// Connections is how many parallel readahead connections per file are
	// tried once one proves slow, and kept when they deliver more (4).
	Connections int
	// FastConnection is the rate (bytes/s) from which one connection counts
	// as fast: more are not tried (200 MB/s).
	FastConnection int64
	MaxFetchers    int   // all fetches per file, readahead plus out-of-order reads (8)
	ChunkSize      int64 // bytes one readahead request asks for (8 MiB)
	DemandChunk    int64 // bytes a request started by a waiting read asks for at least (256 KiB)
	NearWindow     int64 // a read this close behind a fetcher waits for it (1 MiB)
	// A fetch gives up after RetryBudget of failures without progress
	// (60 s) and at least Retries failed attempts (2), waiting RetryBase
	// (100 ms) doubling up to RetryMax (2 s) between attempts, or as long
	// as the origin's Retry-After says within the budget.
	Retries      int
	RetryBudget  time.Duration
	RetryBase    time.Duration
	RetryMax     time.Duration
	StallTimeout time.Duration // an origin silent this long is retried (30 s)
	// Persist keeps temp files in Dir/files across runs (see persist.go):
	// one process owns them (Dir/owner.lock; another gets a *HeldError),
	// Close keeps those of staged files, and Resume adopts them.
	Persist bool
}

func (o *Options) defaults() {
	if o.Client == nil {
		o.Client = &http.Client{Transport: newProtocolTransport(originTransport())}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	setDefault(&o.Connections, 4)
	setDefault(&o.FastConnection, 200e6)
	setDefault(&o.MaxFetchers, 8)
	o.MaxFetchers = max(o.MaxFetchers, o.Connections)
	setDefault(&o.ChunkSize, 8<<20)
	setDefault(&o.DemandChunk, 256<<10)
	setDefault(&o.NearWindow, 1<<20)
	setDefault(&o.Retries, 2)
	setDefault(&o.RetryBudget, 60*time.Second)
	setDefault(&o.RetryBase, 100*time.Millisecond)
	setDefault(&o.RetryMax, 2*time.Second)
	setDefault(&o.StallTimeout, 30*time.Second)
}

func setDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Manager owns the cache directory and every store in it.
type Manager struct {
	opts      Options
	ownClient bool // made by us: close its idle connections on Close
	log       *slog.Logger
	runDir    string
	// dirMu guards lock and dirRemoved; it is taken last, after Manager.mu
	// or Store.mu (cachedir.go).
	dirMu      sync.Mutex
	lock       *os.File     // held for the manager's life: marks runDir as in use (the owner lock with Persist)
	dirRemoved bool         // Close removed runDir (or, with Persist, let it go): it is not made again
	keepFiles  atomic.Bool  // set by Close with Persist: staged stores keep their temp files
	arrived    atomic.Int64 // bytes marked present, ever (Arrived)

	used atomic.Int64 // disk bytes charged by all stores (see Store.recharge)
	// bigActive counts the files too big for the cache that hold bytes:
	// they share the cache equally (release.go).
	bigActive atomic.Int64
	evictCh   chan struct{}
	quit      chan struct{}
	wg        sync.WaitGroup

	mu     sync.Mutex
	stores map[*Store]struct{}
	closed bool // no new stores; Close has begun
	done   bool // Close finished: the run folder is gone
}

const (
	runPrefix = "run-"
	newPrefix = ".new-" // a run folder being set up, not yet locked
)

// makeRunDir creates this run's folder and locks it. The folder gets its
// run- name only once its lock is held (a rename keeps the open lock), so a
// concurrent start never sees a live run folder without its lock and sweeps it.
func makeRunDir(cacheDir string) (string, *os.File, error) {
	tmp, err := os.MkdirTemp(cacheDir, newPrefix+"*")
	if err != nil {
		return "", nil, err
	}
	lock, err := lockRunDir(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("lock %s: %w", tmp, err)
	}
	dir := filepath.Join(cacheDir, runPrefix+strings.TrimPrefix(filepath.Base(tmp), newPrefix))
	if err := os.Rename(tmp, dir); err != nil {
		lock.Close()
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return dir, lock, nil
}

// NewManager prepares opts.Dir: it removes what crashed runs left behind and
// makes a private folder for this run's temp files.
func NewManager(opts Options) (*Manager, error) {
	ownClient := opts.Client == nil
	opts.defaults()
	if opts.Dir == "" {
		return nil, errors.New("cache dir: no directory given")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	m := &Manager{
		opts:      opts,
		ownClient: ownClient,
		log:       opts.Logger,
		evictCh:   make(chan struct{}, 1),
		quit:      make(chan struct{}),
		stores:    make(map[*Store]struct{}),
	}
	if opts.Persist {
		owner, err := lockOwner(filepath.Join(opts.Dir, ownerLockName))
		if err != nil {
			return nil, fmt.Errorf("cache dir %s: %w", opts.Dir, err)
		}
		dir := filepath.Join(opts.Dir, filesDirName)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			owner.Close()
			return nil, fmt.Errorf("cache dir: %w", err)
		}
		m.sweep()
		m.runDir, m.lock = dir, owner
	} else {
		m.sweep()
		dir, lock, err := makeRunDir(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("cache dir: %w", err)
		}
		m.runDir, m.lock = dir, lock
	}
	m.wg.Add(1)
	go m.evictLoop()
	return m, nil
}

// sweep removes run folders whose owner is gone. Another live fsm sharing the
// cache dir holds its folder's lock, so its files are left alone.
func (m *Manager) sweep() {
	entries, err := os.ReadDir(m.opts.Dir)
	if err != nil {
		m.log.Warn("cache dir: cannot list for leftovers", "dir", m.opts.Dir, "err", err)
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(m.opts.Dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), runPrefix):
			if !runDirStale(dir) {
				continue
			}
		case strings.HasPrefix(e.Name(), newPrefix):
			// Being set up by a concurrent start (it holds the lock), or
			// abandoned by a crash during the few calls of makeRunDir.
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < time.Minute || !runDirStale(dir) {
				continue
			}
		default:
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			m.log.Warn("cache dir: cannot remove leftovers", "dir", dir, "err", err)
		} else {
			m.log.Info("removed leftovers of an earlier run", "dir", dir)
		}
	}
}

// Dir is the folder holding this run's temp files.
func (m *Manager) Dir() string { return m.runDir }

// create makes a store for src, as rem describes it, with an empty sparse
// temp file. Nothing is downloaded until the first read.
func (m *Manager) create(src Source, rem Remote) (*Store, error) {
	if rem.Size < 0 {
		return nil, fmt.Errorf("store %s: unknown size", src.Name)
	}
	f, err := m.createTemp()
	if err != nil {
		return nil, err
	}
	err = f.Truncate(rem.Size)
	if cerr := f.Close(); err == nil {
		err = cerr // opened again when its content is first used
	}
	if err != nil {
		os.Remove(f.Name())
		if tooBig(err) {
			return nil, fmt.Errorf("store %s: %w", src.Name, &tooBigError{size: rem.Size, dir: m.runDir})
		}
		return nil, fmt.Errorf("store %s: size temp file: %w", src.Name, err)
	}
	s := newStore(m, src, rem, f.Name(), false)
	switch {
	case m.opts.MaxSize <= 0 || rem.Size <= m.opts.MaxSize:
	case s.big != nil:
		m.log.Warn("the file is larger than the whole cache budget: it streams through its share of the budget, bytes its readers are done with released ", "file", src.Name, "bytes", rem.Size, "budget", m.opts.MaxSize)
	default:
		m.log.Warn("the file is larger than the whole cache budget: reading it will exceed the budget", "file", src.Name, "bytes", rem.Size, "budget", m.opts.MaxSize)
	}
	return m.add(s)
}

// createTemp makes a temp file in this run's folder, making the folder
// again when it was removed (cachedir.go).
func (m *Manager) createTemp() (*os.File, error) {
	f, err := os.CreateTemp(m.runDir, "*.part")
	if errors.Is(err, os.ErrNotExist) && m.restoreDir() == nil {
		f, err = os.CreateTemp(m.runDir, "*.part")
	}
	if err != nil {
		return nil, fmt.Errorf("cache dir: create temp file: %w", err)
	}
	return f, nil
}

// adopt turns f, a temp file from createTemp already holding all rem.Size
// bytes, into a complete store. On error f is closed and removed.
func (m *Manager) adopt(src Source, rem Remote, f *os.File) (*Store, error) {
	st, err := f.Stat()
	if err == nil && st.Size() != rem.Size {
		err = fmt.Errorf("temp file has %d bytes, want %d", st.Size(), rem.Size)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("temp file: %w", cerr)
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("store %s: %w", src.Name, err)
	}
	s := newStore(m, src, rem, f.Name(), true)
	s.rechargeLocked() // not shared yet
	return m.add(s)
}

func (m *Manager) add(s *Store) (*Store, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		s.closeFile()
		return nil, fmt.Errorf("store %s: %w", s.src.Name, ErrClosed)
	}
	m.stores[s] = struct{}{}
	return s, nil
}

// closeFile undoes newStore for a store that was never shared.
func (s *Store) closeFile() {
	s.file.close()
	os.Remove(s.path)
	s.present.reset()
	s.rechargeLocked()
}

func (m *Manager) forget(s *Store) {
	m.mu.Lock()
	delete(m.stores, s)
	m.mu.Unlock()
}

// grew accounts for a change of disk use and wakes the evictor when over budget.
func (m *Manager) grew(n int64) {
	m.used.Add(n)
	m.kick()
}

// kick wakes the evictor when the cache is over budget. Besides growth, a
// store becoming idle (its last handle closed) calls it: eviction refused
// while everything was in use must happen once something is not.
func (m *Manager) kick() {
	if m.opts.MaxSize > 0 && m.used.Load() > m.opts.MaxSize {
		select {
		case m.evictCh <- struct{}{}:
		default:
		}
	}
}

func (m *Manager) evictLoop() {
	defer m.wg.Done()
	for {
		select {
		case <-m.quit:
			return
		case <-m.evictCh:
			m.evictIdle()
		}
	}
}

// evictIdle drops idle stores, least recently used first, until the cache
// fits its budget. Stores with open handles or reads in flight are skipped,
// so the budget can be exceeded while everything is in use.
func (m *Manager) evictIdle() {
	for _, s := range m.byLastAccess() {
		if m.used.Load() <= m.opts.MaxSize {
			return
		}
		if n := s.evict(); n > 0 {
			m.log.Info("evicted idle file to stay within the cache budget", "file", s.src.Name, "bytes", n)
		}
	}
}

// makeRoom evicts idle stores other than s, least recently used first,
// until try succeeds or nothing idle is left; it returns try's last error.
// It runs in a fetcher of s (nil: for a download of unknown size, which is
// no store yet), and evicting a store waits for its fetchers, so only
// stores without any are taken: two stores making room cannot wait for
// each other.
func (m *Manager) makeRoom(s *Store, try func() error) error {
	err := errDiskFull
	for _, c := range m.byLastAccess() {
		if c == s || c.evictIf(evictQuiet) == 0 {
			continue
		}
		m.log.Info("evicted idle file to make room on the cache disk", "file", c.src.Name, "for", s.nameOr("a source of unknown size"))
		if err = try(); !errors.Is(err, errDiskFull) {
			return err
		}
	}
	return err
}

// byLastAccess lists the stores, least recently used first.
func (m *Manager) byLastAccess() []*Store {
	m.mu.Lock()
	type cand struct {
		s    *Store
		last time.Time
	}
	var cands []cand
	for s := range m.stores {
		cands = append(cands, cand{s, s.Progress().LastAccess})
	}
	m.mu.Unlock()
	slices.SortFunc(cands, func(a, b cand) int { return a.last.Compare(b.last) })
	out := make([]*Store, len(cands))
	for i, c := range cands {
		out[i] = c.s
	}
	return out
}

// Close closes every store (waiting for their readers, bounded by ctx) and
// removes this run's folder; with Persist it keeps the temp files of staged
// stores instead.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return nil
	}
	if !m.closed {
		m.closed = true
		m.keepFiles.Store(m.opts.Persist)
		close(m.quit)
	}
	stores := make([]*Store, 0, len(m.stores))
	for s := range m.stores {
		stores = append(stores, s)
	}
	m.mu.Unlock()
	m.wg.Wait()

	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.close(ctx); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		// Leave the run folder (and its lock) for a retry of Close, or for
		// the next start to sweep.
		return errors.Join(errs...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return nil
	}
	m.done = true
	if m.ownClient {
		m.opts.Client.CloseIdleConnections()
	}
	m.dirMu.Lock()
	defer m.dirMu.Unlock()
	m.lock.Close()
	m.dirRemoved = true
	if m.opts.Persist {
		return nil // the temp files of staged files are the next run's
	}
	if err := os.RemoveAll(m.runDir); err != nil {
		return fmt.Errorf("cache dir: remove %s: %w", m.runDir, err)
	}
	return nil
}

// nameOr is the store's name for logs, or what a nil store stands for.
func (s *Store) nameOr(none string) string {
	if s == nil {
		return none
	}
	return s.src.Name
}
