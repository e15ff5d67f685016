//go:build !linux && !darwin && !windows

package awake

import (
	"context"
	"errors"
	"runtime"
)

// none is the mechanism where fsm knows no way to prevent sleep.
type none struct{}

func newMechanism() mechanism { return none{} }

func (none) hold(context.Context, string) (func() error, error) {
	return nil, errors.New("no sleep prevention known on " + runtime.GOOS)
}
