package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// This file is the store's side of persistence (Options.Persist): temp
// files in a folder that outlives the process, their present ranges and
// block checksums exported once durable, and stores resumed from them. The
// state file itself belongs to the caller (package state).

const (
	filesDirName  = "files"      // the temp files of a persistent cache dir
	ownerLockName = "owner.lock" // held by the one fsm that owns them
)

// HeldError is NewManager's answer when another process owns the cache
// dir's persistent files.
type HeldError struct {
	PID int // 0 if it could not be told
}

func (e *HeldError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("in use by another fsm (pid %d)", e.PID)
	}
	return "in use by another fsm"
}

// Saved is what a store needs to resume in a later run: the name of its
// temp file in Manager.Dir, the ranges that file holds durably, the block
// checksums of a file without validators, and why it failed, if it did.
type Saved struct {
	Temp   string     // base name
	Ranges [][2]int64 // [start, end) pairs, sorted and disjoint
	Sums   []uint64   // CRC-64 (ECMA) per 1 MiB block from byte 0, as first received
	Failed string     // the failure's text; "" if not failed
	// Downloading says the background fill was running: a resumed store
	// carries on without waiting for a read.
	Downloading bool
	// Changed says the failure was the origin's file changing (ErrChanged).
	Changed bool
}

// checkpoint is the last Saved a store handed out and what it reflected.
type checkpoint struct {
	saved   Saved
	fetched int64 // Store.fetched when taken
	epoch   int
	phase   phase
	valid   bool
}

// Checkpoint returns what the store can resume from: only ranges whose
// bytes are durable, which it makes sure of first (fsync of the temp file)
// when anything arrived since the last call. After the store closed it is
// what close kept, or nothing when the temp file went with it.
func (s *Store) Checkpoint() Saved {
	s.mu.Lock()
	if s.phase == phaseClosed {
		sv := s.ckpt.saved
		s.mu.Unlock()
		return sv
	}
	if s.ckpt.valid && s.ckpt.fetched == s.fetched && s.ckpt.epoch == s.epoch && s.ckpt.phase == s.phase {
		sv := s.ckpt.saved
		s.mu.Unlock()
		return sv
	}
	sv, ck := s.snapshotLocked()
	s.mu.Unlock()

	// The spans were taken before the sync, and bytes are marked present
	// only after they were written: every one of them is on disk after it.
	if len(sv.Ranges) > 0 {
		if err := s.syncTemp(); err != nil {
			if !errors.Is(err, ErrClosed) { // closing: close keeps its own
				s.log.Warn("cannot make downloaded bytes durable; the next start may fetch them again", "err", err)
			}
			s.mu.Lock()
			sv = s.ckpt.saved
			s.mu.Unlock()
			return sv
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != ck.epoch {
		sv.Ranges = nil // evicted meanwhile: the bytes are gone
	}
	if s.phase != phaseClosed {
		s.ckpt = ck
		s.ckpt.saved = sv
	}
	return sv
}

// snapshotLocked copies what Checkpoint exports, before any sync.
func (s *Store) snapshotLocked() (Saved, checkpoint) {
	sv := Saved{Temp: filepath.Base(s.path)}
	for _, sp := range s.present.spans {
		sv.Ranges = append(sv.Ranges, [2]int64{sp.start, sp.end})
	}
	if s.big != nil {
		sv.Ranges = nil // released as it goes: a range saved now could be a hole after a crash (release.go)
	}
	if s.dig != nil {
		sv.Sums = s.dig.snapshot()
	}
	p := s.phase
	if p == phaseClosed {
		p = s.closedFrom
	}
	if p == phaseFailed && s.permErr != nil {
		sv.Failed, sv.Changed = s.permErr.Error(), errors.Is(s.permErr, ErrChanged)
	}
	sv.Downloading = p == phaseFilling && s.present.total < s.rem.Size
	return sv, checkpoint{fetched: s.fetched, epoch: s.epoch, phase: s.phase, valid: true}
}

// syncTemp flushes the temp file's data to disk. fsync works on the file,
// not the descriptor, so a fresh one reaches writes made through others.
func (s *Store) syncTemp() error {
	f, err := s.file.acquire()
	if err != nil {
		return err
	}
	defer s.file.release()
	if err := syncData(f); err != nil {
		return fmt.Errorf("sync temp file %s: %w", s.path, err)
	}
	return nil
}

// keepOnCloseLocked reports whether close leaves the temp file for the
// next run: the manager is shutting down a persistent cache and the file
// is still staged.
func (s *Store) keepOnCloseLocked() bool {
	return s.m.keepFiles.Load() && s.staged
}

// keepLast records, at close, what the next run resumes from. The fetchers
// have stopped, so nothing changes any more.
func (s *Store) keepLast() {
	s.mu.Lock()
	sv, _ := s.snapshotLocked()
	s.mu.Unlock()
	if len(sv.Ranges) > 0 {
		if err := s.syncTemp(); err != nil {
			s.log.Warn("cannot make downloaded bytes durable; the next start fetches them again", "err", err)
			sv.Ranges = nil
		}
	}
	s.mu.Lock()
	s.ckpt.saved, s.ckpt.valid = sv, true
	s.mu.Unlock()
}

// Resume makes the store for src, as rem described it in an earlier run,
// over the temp file sv names, holding the ranges sv says. Nothing is asked
// of the origin now: the first fetch carries rem's validators, so a file
// that changed meanwhile fails as changed. A temp file that is missing or
// of another size is replaced by an empty one.
func (m *Manager) Resume(src Source, rem Remote, sv Saved) (*Store, error) {
	if !m.opts.Persist {
		return nil, fmt.Errorf("resume %s: the cache dir is not persistent", src.Name)
	}
	if rem.Size < 0 {
		return nil, fmt.Errorf("resume %s: unknown size", src.Name)
	}
	path := filepath.Join(m.runDir, filepath.Base(sv.Temp))
	info, err := os.Lstat(path)
	if sv.Temp == "" || err != nil || !info.Mode().IsRegular() || info.Size() != rem.Size {
		if len(sv.Ranges) > 0 {
			m.log.Warn("temp file of a restored file is missing or damaged; downloading it again", "file", src.Name)
		}
		s, err := m.create(src, rem)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		switch {
		case sv.Failed != "":
			s.permErr, s.phase = savedErr(sv), phaseFailed
		case sv.Downloading:
			s.phase = phaseFilling
			s.scheduleLocked()
		}
		s.mu.Unlock()
		return s, nil
	}
	s := newStore(m, src, rem, path, false)
	if s.big != nil && len(sv.Ranges) > 0 {
		if err := forgetSaved(path, rem.Size); err != nil {
			return nil, fmt.Errorf("resume %s: %w", src.Name, err)
		}
		sv.Ranges = nil
	}
	for _, r := range sv.Ranges {
		s.present.add(max(r[0], 0), min(r[1], rem.Size))
	}
	if s.dig != nil {
		s.dig.sums = slices.Clone(sv.Sums)
	}
	switch {
	case sv.Failed != "":
		s.permErr, s.phase = savedErr(sv), phaseFailed
	case sv.Downloading:
		s.phase = phaseFilling
	}
	s.rechargeLocked() // not shared yet
	if _, err := m.add(s); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.scheduleLocked() // the fill it was running, if any
	s.mu.Unlock()
	return s, nil
}

// savedErr is a failure as an earlier run recorded it.
func savedErr(sv Saved) error {
	if sv.Changed {
		return &restoredError{sv.Failed, ErrChanged}
	}
	return &restoredError{sv.Failed, nil}
}

type restoredError struct {
	msg  string
	kind error
}

func (e *restoredError) Error() string { return e.msg }
func (e *restoredError) Unwrap() error { return e.kind }

// PruneTemps removes the temp files no store uses: in a persistent cache
// dir, those of files the state no longer names. Call it once the saved
// stores are resumed.
func (m *Manager) PruneTemps() {
	m.mu.Lock()
	used := make(map[string]bool, len(m.stores))
	for s := range m.stores {
		used[filepath.Base(s.path)] = true
	}
	m.mu.Unlock()
	entries, err := os.ReadDir(m.runDir)
	if err != nil {
		m.log.Warn("cache dir: cannot list temp files", "dir", m.runDir, "err", err)
		return
	}
	removed := 0
	for _, e := range entries {
		if used[e.Name()] || e.Name() == "lock" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(m.runDir, e.Name())); err != nil {
			m.log.Warn("cache dir: cannot remove a temp file no staged file uses", "file", e.Name(), "err", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		m.log.Info("removed temp files no staged file uses", "dir", m.runDir, "files", removed)
	}
}

// relock takes the lock of a run folder made again (cachedir.go): with
// Persist the cache dir's owner lock, whose file went with the dir, else
// the folder's own.
func (m *Manager) relock() (*os.File, error) {
	if m.opts.Persist {
		return lockOwner(filepath.Join(m.opts.Dir, ownerLockName))
	}
	return lockRunDir(m.runDir)
}

// Arrived counts the bytes that reached temp files since the start: the
// caller's cue to checkpoint after a batch.
func (m *Manager) Arrived() int64 { return m.arrived.Load() }

// Source is what the store was staged from, secrets included: for saving
// and staging it again, never for showing.
func (s *Store) Source() Source { return s.src }

// Remote is what the origin told about the file, with the size a whole
// download found.
func (s *Store) Remote() Remote { return s.rem }
