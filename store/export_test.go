package store

// Counters only tests look at: production shows Progress.

// usedBytes is the disk space the manager counts for its stores.
func (m *Manager) usedBytes() int64 { return m.used.Load() }

// fetchedBytes is what the store received from the origin, repeats
// included.
func (s *Store) fetchedBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetched
}

// fetchers is the number of fetches running.
func (s *Store) fetchers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fetches)
}

// isClosed reports whether close ran (Progress shows such a store as idle).
func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phase == phaseClosed
}
