package awake

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDescribeTransfers(t *testing.T) {
	for n, want := range map[int]string{1: "1 transfer", 2: "2 transfers", 10: "10 transfers"} {
		if got := describeTransfers(n); got != want {
			t.Errorf("describeTransfers(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPhaseNames(t *testing.T) {
	for p, want := range map[Phase]string{
		PhaseIdle: "idle", PhaseHolding: "holding", PhaseLingering: "lingering",
		PhaseUnavailable: "unavailable", PhaseOff: "off", Phase(99): "Phase(99)",
	} {
		if got := p.String(); got != want {
			t.Errorf("Phase %d is %q, want %q", int(p), got, want)
		}
		if b, err := json.Marshal(Status{Phase: p}); err != nil || !strings.Contains(string(b), `"Phase":"`+want+`"`) {
			t.Errorf("Phase %d in JSON: %s, %v; want %q", int(p), b, err, want)
		}
	}
}

// An off keeper counts but shows no activity, and Close returns at once.
func TestOffStatus(t *testing.T) {
	k := New(Options{Off: true, Describe: func(n int) string { return fmt.Sprint(n, " uploads") }})
	k.Set(2)
	k.Hold()
	if s := k.Status(); s != (Status{Phase: PhaseOff}) {
		t.Errorf("off keeper: %+v", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // an off keeper has nothing to release, so even a dead ctx is enough
	if err := k.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestGraceBounds(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, DefaultGrace}, {-time.Second, DefaultGrace}, {time.Second, time.Second}, {time.Hour, MaxGrace},
	} {
		k := New(Options{Grace: tc.in, Off: true})
		if k.grace != tc.want {
			t.Errorf("Grace %v became %v, want %v", tc.in, k.grace, tc.want)
		}
	}
}
