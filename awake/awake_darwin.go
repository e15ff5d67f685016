package awake

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// caffeinate is the macOS mechanism: `caffeinate -i -w PID` holds an
// idle-sleep assertion until it is killed or fsm exits (-w), so a crashed
// fsm never leaves the Mac awake.
type caffeinate struct{}

func newMechanism() mechanism { return caffeinate{} }

func (caffeinate) hold(ctx context.Context, why string) (func() error, error) {
	path, err := exec.LookPath("caffeinate")
	if err != nil {
		return nil, fmt.Errorf("caffeinate: %w", err)
	}
	cmd := exec.Command(path, "-i", "-w", strconv.Itoa(os.Getpid()))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return func() error {
		// An error here only means caffeinate is already gone.
		_ = cmd.Process.Kill()
		<-exited
		return nil
	}, nil
}
