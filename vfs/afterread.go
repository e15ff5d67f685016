package vfs

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// AfterRead is what happens to a staged file once every byte of it has been
// read by some reader (an upload of it is done): the union of the ranges
// served covers the file, its last handle has closed, and no new open came
// for the delay.
type AfterRead string

const (
	AfterReadKeep    AfterRead = "keep"    // nothing: the bytes stay until unstaged or evicted for room
	AfterReadEvict   AfterRead = "evict"   // drop the temp file's bytes; the file stays staged, idle, and reads again
	AfterReadUnstage AfterRead = "unstage" // remove the file and its temp file
)

// DefaultAfterReadDelay is Options.AfterReadDelay when zero.
const DefaultAfterReadDelay = 30 * time.Second

// ParseAfterRead checks a policy name; "" is "" (the tree's default).
func ParseAfterRead(s string) (AfterRead, error) {
	switch p := AfterRead(s); p {
	case "", AfterReadKeep, AfterReadEvict, AfterReadUnstage:
		return p, nil
	}
	return "", fmt.Errorf("after-read %q: want keep, evict or unstage", s)
}

// readTrack is a file's after-read accounting: the bytes served through its
// handles and the handles open, and the pending action.
type readTrack struct {
	mu sync.Mutex // guards the fields below
	// served is the union of the ranges handles have returned.
	served served
	// handles are the file's handles open now.
	handles int
	// gen is bumped by every open: an action armed before it is stale.
	gen   uint64
	timer *time.Timer // the armed action; nil if none
}

// noteServed records that a handle returned [off, off+n).
func (t *readTrack) noteServed(off, n int64) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	t.served.add(off, off+n)
	t.mu.Unlock()
}

// noteOpen counts a new handle and calls off an armed action: the file is
// in use again.
func (t *readTrack) noteOpen() {
	t.mu.Lock()
	t.handles++
	t.gen++
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.mu.Unlock()
}

// noteClose drops a handle. When it was the last one and every byte has
// been served, it returns the generation to act on (ok).
func (t *readTrack) noteClose(size int64) (gen uint64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.handles--
	if t.handles > 0 || !t.served.covers(size) {
		return 0, false
	}
	return t.gen, true
}

// Action is one after-read action taken, for the events stream.
type Action struct {
	Seq   uint64 // increasing from 1
	Name  string
	Did   AfterRead // evict or unstage
	Bytes int64     // temp-file bytes freed
}

// maxActions bounds the actions kept for event streams: one that falls this
// far behind still sees every file's new state, only not every action.
const maxActions = 64

// actionLog is the latest actions; it has its own lock.
type actionLog struct {
	mu   sync.Mutex // guards the fields below
	last uint64
	kept []Action
}

func (l *actionLog) add(a Action) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last++
	a.Seq = l.last
	l.kept = append(l.kept, a)
	if len(l.kept) > maxActions {
		l.kept = append(l.kept[:0], l.kept[len(l.kept)-maxActions:]...)
	}
}

// Actions returns the after-read actions taken after seq (0: every one
// still kept), oldest first, and the latest seq to pass next time.
func (f *FS) Actions(seq uint64) ([]Action, uint64) {
	l := &f.actions
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Action
	for _, a := range l.kept {
		if a.Seq > seq {
			out = append(out, a)
		}
	}
	return out, l.last
}

// policy is the file's own after-read, else the tree's.
func (f *FS) policy(file *File) AfterRead {
	if file.afterRead != "" {
		return file.afterRead
	}
	return f.opts.AfterRead
}

// handleClosed arms the file's after-read action when its last handle has
// closed with every byte served.
func (f *FS) handleClosed(file *File) {
	gen, ok := file.track.noteClose(file.Size())
	if !ok || f.policy(file) == AfterReadKeep {
		return
	}
	t := &file.track
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen != gen { // opened again meanwhile
		return
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	t.timer = time.AfterFunc(f.opts.AfterReadDelay, func() { f.afterRead(file, gen) })
}

// afterRead takes the file's action, unless it was opened again since gen or
// is no longer staged under its name.
func (f *FS) afterRead(file *File, gen uint64) {
	f.mu.RLock()
	closed := f.closed // shutting down: the temp files go anyway
	f.mu.RUnlock()
	t := &file.track
	t.mu.Lock()
	stale := closed || t.gen != gen || t.handles > 0
	if !stale {
		t.timer = nil
	}
	t.mu.Unlock()
	if stale {
		return
	}
	switch f.policy(file) {
	case AfterReadEvict:
		// The store refuses while a handle is open or a read runs: an open
		// that came after the check above keeps the bytes, and arms
		// again when it closes.
		freed := file.store.Evict()
		if freed == 0 {
			return
		}
		t.mu.Lock()
		t.served.reset() // what is read from now on is a new upload
		t.mu.Unlock()
		f.log.Info("after read: evicted the downloaded bytes; the file stays staged", "name", file.Path(), "bytes", freed, "after_read", AfterReadEvict)
		f.actions.add(Action{Name: file.Path(), Did: AfterReadEvict, Bytes: freed})
	case AfterReadUnstage:
		freed := file.Progress().Present
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.CloseTimeout)
		defer cancel()
		removed, err := f.unstageFile(ctx, file, "after read: unstaged", "after_read", AfterReadUnstage, "bytes", freed)
		if err != nil {
			f.log.Warn("after read: unstage", "name", file.Path(), "err", err)
		}
		if removed {
			f.actions.add(Action{Name: file.Path(), Did: AfterReadUnstage, Bytes: freed})
		}
	}
}
