package store

import "fmt"

// ErrNotFailing: Retry of a store that is not in error.
var ErrNotFailing = fmt.Errorf("not in error")

// Retry resumes the download of a store in error (its fetches gave up
// after their retries) at once, instead of at the next read. A failed
// store cannot be retried: its file as staged is gone, so it is staged
// anew (Source tells what from).
func (s *Store) Retry() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase != phaseStalled || s.lastErr == nil {
		return fmt.Errorf("retry %s: %w", s.src.Name, ErrNotFailing)
	}
	s.log.Info("retrying the download")
	s.phase, s.lastErr = phaseFilling, nil
	s.scheduleLocked()
	return nil
}
