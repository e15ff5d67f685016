package store

import (
	"fmt"
	"os"
	"sync"
)

// tempFile opens a store's temp file when its content is first used and
// closes it when nothing uses it any more, so thousands of staged files
// that nobody reads hold no descriptor. A user is a read or a fetch in
// progress (acquire/release); an open handle (pin/unpin) keeps the file
// open between its reads without opening it.
type tempFile struct {
	path string

	mu   sync.Mutex // guards the fields below; taken after Store.mu
	f    *os.File
	refs int
	pins int
	gone bool // closed for good
}

// acquire returns the open file; release it when done.
func (t *tempFile) acquire() (*os.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gone {
		return nil, ErrClosed
	}
	if t.f == nil {
		f, err := os.OpenFile(t.path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("open temp file: %w", err)
		}
		t.f = f
	}
	t.refs++
	return t.f, nil
}

func (t *tempFile) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refs--
	t.closeIfIdleLocked()
}

func (t *tempFile) pin() {
	t.mu.Lock()
	t.pins++
	t.mu.Unlock()
}

func (t *tempFile) unpin() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pins--
	t.closeIfIdleLocked()
}

func (t *tempFile) closeIfIdleLocked() {
	if t.refs == 0 && t.pins == 0 && t.f != nil {
		t.f.Close() // read-only use or data already written: nothing to report
		t.f = nil
	}
}

// close closes the file for good; callers make sure no one uses it.
func (t *tempFile) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gone = true
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}

// isOpen reports whether a descriptor is held (for tests).
func (t *tempFile) isOpen() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.f != nil
}
