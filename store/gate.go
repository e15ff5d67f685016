package store

import "sync"

// gate counts in-flight readers and lets the store's close wait for them.
//
// It is correct by construction: the closing flag and the reader count live
// under one mutex, so enter either sees closing and refuses, or increments the
// count before close can observe it. There is no window between "check flag"
// and "count me" (the bug of the Add-after-check WaitGroup pattern, whose Add
// may run concurrently with Wait), and idle is closed exactly once, by
// whichever of close or the last leave sees count==0 with closing set.
type gate struct {
	mu      sync.Mutex
	closing bool
	n       int
	idle    chan struct{}
}

// enter registers a reader; it returns false once closing has begun.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.n++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.n == 0 && g.closing {
		close(g.idle)
	}
}

// close stops new readers and returns a channel closed when none is in flight.
// Calling it again returns the same channel.
func (g *gate) close() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closing {
		g.closing = true
		g.idle = make(chan struct{})
		if g.n == 0 {
			close(g.idle)
		}
	}
	return g.idle
}

// busy reports how many readers are in flight.
func (g *gate) busy() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}
