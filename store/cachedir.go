package store

import (
	"errors"
	"fmt"
	"os"
)

// This file is what fsm does when its cache dir is removed while it runs
// (a cleaner, a user's rm -r): the next temp file create or open fails with
// ENOENT, the run folder is made again (0700, locked as at start) and told
// once in the log, and each store whose temp file went with it makes a new,
// empty one and downloads again what is read. The bytes of a temp file that
// is still open live on in its descriptor, so readers holding it keep
// reading them; only a path-based open of such a file fails, saying why.

// errCacheRemoved: the temp file went with the cache dir while the file was
// open, so what had been downloaded is readable only through descriptors
// already open.
var errCacheRemoved = errors.New("the cache dir was removed while this file was open; close it and open it again to download it anew")

// restoreDir makes the run folder again if it is gone, and logs once what
// happened.
func (m *Manager) restoreDir() error {
	m.dirMu.Lock()
	defer m.dirMu.Unlock()
	if m.dirRemoved {
		return fmt.Errorf("cache dir: %w", ErrClosed)
	}
	if _, err := os.Stat(m.runDir); err == nil {
		return nil // made again already, by another caller
	}
	if err := os.MkdirAll(m.runDir, 0o700); err != nil {
		return fmt.Errorf("cache dir: make %s again: %w", m.runDir, err)
	}
	// The folder's owner is told by its lock (lockRunDir); the old lock's
	// file went with the folder.
	lock, err := m.relock()
	if err != nil {
		return fmt.Errorf("cache dir: lock %s again: %w", m.runDir, err)
	}
	m.lock.Close()
	m.lock = lock
	m.log.Warn("the cache dir was removed while fsm ran; made it again: files download again when read, and reads of files open meanwhile fail until they are opened again", "dir", m.runDir)
	return nil
}

// renewTempLocked replaces a temp file that vanished and that no one holds
// open: nothing downloaded is left, so the store starts over as if evicted,
// and reads that wait fetch again. It creates a file under s.mu, as a rare
// recovery may; the fetchers of the old file could not open it, so none is
// writing.
func (s *Store) renewTempLocked() error {
	if _, err := os.Stat(s.path); err == nil {
		return nil // renewed already
	}
	if s.pathOpens > 0 || s.file.isOpen() {
		// Someone still reads the old file's bytes through a descriptor;
		// a new file now would hand them holes where it has none yet.
		return errCacheRemoved
	}
	if err := s.m.restoreDir(); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cache dir: make temp file again: %w", err)
	}
	err = f.Truncate(s.rem.Size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(s.path)
		return fmt.Errorf("cache dir: size temp file: %w", err)
	}
	s.epoch++ // a fetcher of the old file marks nothing present
	s.present.reset()
	s.res = resNone
	s.rechargeLocked()
	s.dl = nil
	s.log.Debug("temp file went with the cache dir; downloading again")
	return nil
}

// renewTemp is renewTempLocked for callers without s.mu.
func (s *Store) renewTemp() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewTempLocked()
}

// openPath opens a descriptor of CopyTo's own on the temp file, making
// the file again when it went with the cache dir and no one holds it. The
// count of such descriptors keeps a renewal from happening under them; the
// open happens under s.mu so that no renewal comes between it and the count.
func (s *Store) openPath() (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		if err = s.renewTempLocked(); err == nil {
			f, err = os.Open(s.path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open temp file: %w", err)
	}
	s.pathOpens++
	return f, nil
}

// closePath closes what openPath opened.
func (s *Store) closePath(f *os.File) {
	f.Close()
	s.mu.Lock()
	s.pathOpens--
	s.mu.Unlock()
}
