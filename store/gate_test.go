package store

import (
	"sync"
	"testing"
)

func closedNow(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestGateIdleWhenEmpty(t *testing.T) {
	var g gate
	idle := g.close()
	if !closedNow(idle) {
		t.Fatal("close of an empty gate: idle not closed")
	}
	if g.enter() {
		t.Fatal("enter after close succeeded")
	}
	if g.close() != idle {
		t.Fatal("second close returned another channel")
	}
}

func TestGateWaitsForReaders(t *testing.T) {
	var g gate
	if !g.enter() || !g.enter() {
		t.Fatal("enter refused")
	}
	if g.busy() != 2 {
		t.Fatalf("busy %d", g.busy())
	}
	idle := g.close()
	if closedNow(idle) {
		t.Fatal("idle closed with readers in flight")
	}
	if g.enter() {
		t.Fatal("enter after close succeeded")
	}
	g.leave()
	if closedNow(idle) {
		t.Fatal("idle closed with a reader in flight")
	}
	if g.close() != idle {
		t.Fatal("second close returned another channel")
	}
	g.leave()
	if !closedNow(idle) {
		t.Fatal("idle not closed after the last reader left")
	}
	if g.busy() != 0 {
		t.Fatalf("busy %d", g.busy())
	}
}

func TestGateLeaveBeforeClose(t *testing.T) {
	var g gate
	for i := 0; i < 3; i++ {
		g.enter()
		g.leave()
	}
	if !closedNow(g.close()) {
		t.Fatal("idle not closed")
	}
}

// TestGateConcurrent: every reader that got in is counted before close can
// report idle; run under -race.
func TestGateConcurrent(t *testing.T) {
	for iter := 0; iter < 50; iter++ {
		var g gate
		var mu sync.Mutex
		inside := 0
		afterIdle := false
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for j := 0; j < 50; j++ {
					if !g.enter() {
						return
					}
					mu.Lock()
					if afterIdle {
						mu.Unlock()
						t.Error("a reader got in after idle")
						g.leave()
						return
					}
					inside++
					mu.Unlock()
					mu.Lock()
					inside--
					mu.Unlock()
					g.leave()
				}
			}()
		}
		close(start)
		idle := g.close()
		<-idle
		mu.Lock()
		afterIdle = true
		if inside != 0 {
			t.Errorf("idle with %d readers inside", inside)
		}
		mu.Unlock()
		wg.Wait()
	}
}
