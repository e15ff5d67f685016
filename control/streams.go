package control

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxStreams caps open events streams. Streams that never read would
// otherwise pile up until they hold every connection; at the cap, a new
// stream ends the oldest one that is not reading (or the oldest, when all
// read), so the page of whoever connects last always gets its stream.
const maxStreams = 64

// EventsPath is the path of the events stream, for servers that treat its
// long-lived connections apart from others.
const EventsPath = apiPrefix + "events"

// stalledAfter is how long a write must have been blocked for its stream
// to count as not reading: a stream writes whenever a file changed (and
// every keepalive), and a write to a client that reads returns at once.
const stalledAfter = time.Second

// stream is one open events stream.
type stream struct {
	rc *http.ResponseController
	// writingSince is when the write in progress began (UnixNano), 0
	// between writes. Set by the stream's handler, read by add.
	writingSince atomic.Int64
	dropped      chan struct{} // closed when the stream is ended to make room
	dropOnce     sync.Once
}

// drop ends the stream: its handler returns at its next select, and a
// write blocked on a client that does not read fails at once.
func (st *stream) drop() {
	st.dropOnce.Do(func() {
		close(st.dropped)
		st.rc.SetWriteDeadline(time.Now())
	})
}

// closeIfDropped closes the connection of a dropped stream, so its slot
// is free at once: the server would otherwise keep it for another request.
func (st *stream) closeIfDropped() {
	select {
	case <-st.dropped:
	default:
		return
	}
	if c, _, err := st.rc.Hijack(); err == nil {
		c.Close()
	}
}

// streamSet is the open events streams of a Server; its zero value is
// empty and ready.
type streamSet struct {
	mu   sync.Mutex // guards list
	list []*stream  // oldest first; at most maxStreams
}

// add registers a new stream, ending another first when the set is full.
func (s *streamSet) add(rc *http.ResponseController) *stream {
	st := &stream{rc: rc, dropped: make(chan struct{})}
	s.mu.Lock()
	var victim *stream
	if len(s.list) >= maxStreams {
		victim = s.removeLocked(s.victimLocked())
	}
	s.list = append(s.list, st)
	s.mu.Unlock()
	if victim != nil {
		victim.drop()
	}
	return st
}

// remove unregisters st (its handler returned).
func (s *streamSet) remove(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.list {
		if x == st {
			s.removeLocked(i)
			return
		}
	}
}

// victimLocked returns the index of the stream to end for a new one: the
// oldest that is not reading (blocked in a write for stalledAfter), else
// the oldest. s.mu must be held, and the set must not be empty.
func (s *streamSet) victimLocked() int {
	stalled := time.Now().Add(-stalledAfter).UnixNano()
	for i, st := range s.list {
		if since := st.writingSince.Load(); since != 0 && since <= stalled {
			return i
		}
	}
	return 0
}

// removeLocked takes the stream at i out of the set and returns it. s.mu
// must be held.
func (s *streamSet) removeLocked(i int) *stream {
	st := s.list[i]
	s.list = append(s.list[:i], s.list[i+1:]...)
	return st
}

// len returns the number of open streams.
func (s *streamSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.list)
}
