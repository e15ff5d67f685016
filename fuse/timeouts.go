//go:build fuse

package fuse

import (
	"sync"
	"time"

	"fsm/vfs"
)

// retryWindow is how long a timed-out range is remembered. The kernel
// retries at once (in the same system call), so a few seconds are plenty,
// and a later read by the application waits afresh.
const retryWindow = 3 * time.Second

// timeouts remembers byte ranges whose read just timed out. When a
// readahead request fails, the kernel retries the page the application
// asked for with a small read of its own; waiting the full ReadTimeout
// again would double the application's wait (100 s for a documented 50 s,
// past macFUSE's 60 s daemon timeout). A read that starts inside a
// remembered range therefore gets what is present and waits for nothing.
type timeouts struct {
	mu     sync.Mutex // guards recent
	recent []timedOut
}

type timedOut struct {
	file     *vfs.File
	off, end int64
	at       time.Time
}

func newTimeouts() *timeouts { return &timeouts{} }

// add remembers that a read of [off, end) of file timed out now.
func (t *timeouts) add(file *vfs.File, off, end int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(time.Now())
	t.recent = append(t.recent, timedOut{file: file, off: off, end: end, at: time.Now()})
}

// take reports whether a read of size bytes at off of file retries a range
// that timed out within retryWindow: it starts inside that range and is no
// larger (the kernel retries one page or folio of a failed readahead). It
// forgets that range: the kernel retries once, and a later read by the
// application waits afresh.
func (t *timeouts) take(file *vfs.File, off int64, size int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(time.Now())
	for i, r := range t.recent {
		if r.file == file && off >= r.off && off < r.end && int64(size) <= r.end-r.off {
			t.recent = append(t.recent[:i], t.recent[i+1:]...)
			return true
		}
	}
	return false
}

// pruneLocked drops entries older than retryWindow; t.mu must be held.
func (t *timeouts) pruneLocked(now time.Time) {
	keep := t.recent[:0]
	for _, r := range t.recent {
		if now.Sub(r.at) < retryWindow {
			keep = append(keep, r)
		}
	}
	t.recent = keep
}
