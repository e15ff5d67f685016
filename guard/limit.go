package guard

import (
	"sync"
	"time"
)

// Wrong credentials cost time, so a password cannot be guessed at network
// speed; right ones never do, so no flood of wrong guesses can lock the
// owner out. The cost is a delay before the 401 that doubles with each
// wrong guess on the same connection, from failDelayBase up to
// failDelayMax, and one step more for every pressureStep wrong guesses
// anywhere within pressureWindow: a guesser that opens a new connection
// per guess, from ever other addresses of 127/8, pays the same growing
// delay. The delay is not cut short when the client goes away, so its
// connection slot stays taken: abandoning slow answers buys no speed.
const (
	failDelayBase  = 250 * time.Millisecond
	failDelayMax   = 8 * time.Second
	pressureWindow = time.Minute
	pressureStep   = 10
)

// penalty prices wrong credentials.
type penalty struct {
	now   func() time.Time
	sleep func(time.Duration)

	mu     sync.Mutex // guards since and recent
	since  time.Time  // start of the current pressure window
	recent int        // wrong guesses, on every connection, since since
}

func newPenalty(now func() time.Time, sleep func(time.Duration)) *penalty {
	return &penalty{now: now, sleep: sleep}
}

// fail counts a wrong guess on the connection st and returns the delay
// its answer waits.
func (p *penalty) fail(st *connState) time.Duration {
	st.mu.Lock()
	st.failures++
	n := st.failures
	st.mu.Unlock()

	p.mu.Lock()
	now := p.now()
	if now.Sub(p.since) >= pressureWindow {
		p.since, p.recent = now, 0
	}
	p.recent++
	pressure := p.recent / pressureStep
	p.mu.Unlock()
	return failDelay(n - 1 + pressure)
}

// failDelay is the delay of step k: failDelayBase doubled k times, capped.
func failDelay(k int) time.Duration {
	d := failDelayBase
	for range k {
		if d >= failDelayMax {
			break
		}
		d *= 2
	}
	return min(d, failDelayMax)
}
