package awake

import (
	"context"
	"fmt"
	"runtime"

	"golang.org/x/sys/windows"
)

// executionState is the Windows mechanism: SetThreadExecutionState with
// ES_SYSTEM_REQUIRED. The state belongs to the calling thread, so one
// goroutine locked to its own OS thread sets it, waits for the release and
// clears it on the same thread.
type executionState struct{}

func newMechanism() mechanism { return executionState{} }

const (
	esSystemRequired = 0x00000001
	esContinuous     = 0x80000000
)

var procSetThreadExecutionState = windows.NewLazySystemDLL("kernel32.dll").NewProc("SetThreadExecutionState")

func (executionState) hold(ctx context.Context, why string) (func() error, error) {
	if err := procSetThreadExecutionState.Find(); err != nil {
		return nil, fmt.Errorf("SetThreadExecutionState: %w", err)
	}
	started := make(chan error, 1)
	stop := make(chan struct{})
	stopped := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends with the goroutine, taking any
		// state it still carries with it.
		if r, _, err := procSetThreadExecutionState.Call(esContinuous | esSystemRequired); r == 0 {
			started <- fmt.Errorf("SetThreadExecutionState: %w", err)
			return
		}
		started <- nil
		<-stop
		if r, _, err := procSetThreadExecutionState.Call(esContinuous); r == 0 {
			stopped <- fmt.Errorf("SetThreadExecutionState: clearing: %w", err)
			return
		}
		stopped <- nil
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return func() error {
		close(stop)
		return <-stopped
	}, nil
}
