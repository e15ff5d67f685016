package store

import (
	"testing"
	"time"
)

func TestRejudge(t *testing.T) {
	const fast = 200e6
	tests := []struct {
		name              string
		stage             connStage
		rate, settledRate float64
		due               bool
		want              connStage
	}{
		{"one, steady", connsOne, 20e6, 20e6, false, connsOne},
		{"one, the rate dropped: try again", connsOne, 20e6, 38e6, false, connsMeasuringOne},
		{"one, a little slower: noise", connsOne, 18e6, 20e6, false, connsOne},
		{"one, retrial due", connsOne, 20e6, 20e6, true, connsMeasuringOne},
		{"one and fast: never more, even when due", connsOne, 300e6, 2e9, true, connsOne},
		{"many, steady", connsMany, 80e6, 80e6, true, connsMany},
		{"many, the rate dropped: measure one again", connsMany, 40e6, 80e6, false, connsMeasuringOne},
	}
	for _, tc := range tests {
		if got := rejudge(tc.stage, tc.rate, tc.settledRate, fast, tc.due); got != tc.want {
			t.Errorf("%s: rejudge = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// origin models what each connection delivers at elapsed time into the
// download with conns readahead connections running.
type originModel func(elapsed time.Duration, conns int) float64

func perConn(rate float64) originModel {
	return func(time.Duration, int) float64 { return rate }
}

// driveChoice feeds a store's choice the bytes model delivers, on a
// synthetic clock, for d; it returns the stages the choice went through.
func driveChoice(t *testing.T, connections int, model originModel, d time.Duration) (*Store, []connStage) {
	t.Helper()
	const step = time.Millisecond
	s := &Store{
		m:     &Manager{opts: Options{Connections: connections, FastConnection: 200e6}},
		log:   quietLogger(),
		phase: phaseClosed, // widening schedules nothing
	}
	start := time.Unix(1e9, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	stages := []connStage{s.choice.stage}
	for el := step; el <= d; el += step {
		conns := s.readaheadConnsLocked()
		rate := model(el, conns)
		if rate == 0 {
			continue // nothing arrives, nothing is noted
		}
		for range conns {
			s.noteReadaheadLocked(int64(rate*step.Seconds()), start.Add(el))
		}
		if st := s.choice.stage; st != stages[len(stages)-1] {
			stages = append(stages, st)
		}
	}
	return s, stages
}

func count(stages []connStage, st connStage) int {
	n := 0
	for _, x := range stages {
		if x == st {
			n++
		}
	}
	return n
}

// The choice is judged again while a long download goes on.
func TestConnectionChoiceIsJudgedAgain(t *testing.T) {
	const limit = 8 << 20
	tests := []struct {
		name      string
		model     originModel
		d         time.Duration
		want      connStage
		minProbes int // trials of more there must have been
		maxProbes int
	}{
		{
			// The first window saw a burst (socket buffers full of
			// bytes) four times the connection's rate, so the probe
			// seemed to add nothing; the next long window tells.
			"a first window that was wrong", func(el time.Duration, conns int) float64 {
				if el < 60*time.Millisecond {
					return 4 * limit
				}
				return limit
			}, 5 * time.Second, connsMany, 2, 2,
		},
		{
			"a fast origin that slows down to a per-connection limit", func(el time.Duration, conns int) float64 {
				if el < 2*time.Second {
					return 2.4e9
				}
				return limit
			}, 6 * time.Second, connsMany, 1, 1,
		},
		{
			"many, then a limit they all share", func(el time.Duration, conns int) float64 {
				if el < 5*time.Second {
					return limit
				}
				return 2 * limit / float64(conns)
			}, 9 * time.Second, connsOne, 2, 2,
		},
		{"a fast origin is never given more", perConn(2.4e9), 120 * time.Second, connsOne, 0, 0},
		// Every retrial costs a probe: they become rarer (after 10,
		// 20, 40 s), not one a second.
		{"a shared limit is probed again only now and then", func(_ time.Duration, conns int) float64 {
			return 16 << 20 / float64(conns)
		}, 120 * time.Second, connsOne, 4, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, stages := driveChoice(t, 4, tc.model, tc.d)
			probes := count(stages, connsProbing)
			if s.choice.stage != tc.want {
				t.Fatalf("ended on %s, want %s; went through %v", s.choice.stage, tc.want, stages)
			}
			if probes < tc.minProbes || probes > tc.maxProbes {
				t.Fatalf("%d trials, want %d to %d; went through %v", probes, tc.minProbes, tc.maxProbes, stages)
			}
		})
	}
}

// A pause in the download is not a drop in the origin's rate.
func TestConnectionChoiceIgnoresPauses(t *testing.T) {
	const limit = 8 << 20
	s, stages := driveChoice(t, 4, func(el time.Duration, conns int) float64 {
		if el > 4*time.Second && el < 7*time.Second {
			return 0
		}
		return limit
	}, 9*time.Second)
	if s.choice.stage != connsMany || count(stages, connsMeasuringOne) != 1 {
		t.Fatalf("ended on %s through %v, want many all along once chosen", s.choice.stage, stages)
	}
}
