package awake

import (
	"testing"
	"time"

	"fsm/internal/fakelogind"
)

// The fake login1 lives in internal/fakelogind, shared with the fsm
// binary's tests; these are the names the keeper's tests use.

type inhibition = fakelogind.Inhibition

type fakeLogind struct{ *fakelogind.Logind }

func startBus(t *testing.T) string { return fakelogind.StartBus(t) }

func startLogind(t *testing.T, addr, refuse string) *fakeLogind {
	return &fakeLogind{fakelogind.Start(t, addr, refuse)}
}

func (f *fakeLogind) next(t *testing.T) *inhibition { return f.Next(t) }

func (f *fakeLogind) noMoreCalls(t *testing.T) { f.NoMoreCalls(t) }

func waitReleased(t *testing.T, in *inhibition) time.Time { return fakelogind.WaitReleased(t, in) }
