package control

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestStreamSetCap: the set never holds more than maxStreams; a new stream
// ends the oldest one blocked in a write for stalledAfter, or the oldest
// when none is.
func TestStreamSetCap(t *testing.T) {
	var s streamSet
	rc := func() *http.ResponseController { return http.NewResponseController(httptest.NewRecorder()) }
	var all []*stream
	for range maxStreams {
		all = append(all, s.add(rc()))
	}
	blocked := time.Now().Add(-2 * stalledAfter).UnixNano()
	all[5].writingSince.Store(blocked)
	all[9].writingSince.Store(blocked)
	all[2].writingSince.Store(time.Now().UnixNano()) // writing, but only just
	isDropped := func(st *stream) bool {
		select {
		case <-st.dropped:
			return true
		default:
			return false
		}
	}
	wantDropped := make(map[int]bool)
	for _, c := range []struct {
		name string
		want int // index in all of the stream that must be dropped
	}{
		{"the oldest blocked in a write", 5},
		{"the next blocked in a write", 9},
		{"the oldest, when every stream reads", 0},
		{"then the next oldest", 1},
	} {
		all = append(all, s.add(rc()))
		if n := s.len(); n != maxStreams {
			t.Fatalf("%s: %d streams open, want %d", c.name, n, maxStreams)
		}
		wantDropped[c.want] = true
		for i, st := range all {
			if got := isDropped(st); got != wantDropped[i] {
				t.Errorf("%s: stream %d dropped %v, want %v", c.name, i, got, wantDropped[i])
			}
		}
	}
	s.remove(all[len(all)-1])
	if n := s.len(); n != maxStreams-1 {
		t.Errorf("after a stream ended: %d open, want %d", n, maxStreams-1)
	}
}
