package store

import (
	"sync"
	"time"
)

// Arrival is how far the whole download of a source of unknown size has
// come. Such a source is not a Store until its last byte is in (its size is
// what that download finds), so a listing of it shows this instead: the
// bytes so far, the recent rate, the protocol. The zero value is ready; a
// nil *Arrival counts nothing.
type Arrival struct {
	mu       sync.Mutex
	started  bool   // the origin answered 200 and its body is coming; guarded by mu
	n        int64  // bytes written to the temp file so far; guarded by mu
	protocol string // guarded by mu
	meter    meter  // guarded by mu
}

func (a *Arrival) start(protocol string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.started, a.protocol = true, protocol
}

func (a *Arrival) add(n int64) {
	if a == nil || n <= 0 {
		return
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n += n
	a.meter.add(n, now)
}

// Progress is the download so far as a Store's Progress: state
// downloading with Present, Rate, one connection and the protocol, Size -1
// (unknown). ok is false until the origin has answered with the body.
func (a *Arrival) Progress() (p Progress, ok bool) {
	if a == nil {
		return Progress{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.started {
		return Progress{}, false
	}
	return Progress{
		Size:     -1,
		Present:  a.n,
		Rate:     a.meter.rate(time.Now()),
		Conns:    1,
		Protocol: a.protocol,
		State:    StateDownloading,
	}, true
}
