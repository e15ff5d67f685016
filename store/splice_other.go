//go:build !linux

package store

import (
	"context"
	"errors"
	"net"
)

// spliceDialer is d's own dialer: splice is Linux's.
func spliceDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.DialContext
}

// splicePipe is never made: no connection splices.
type splicePipe struct{}

func newSplicePipe() (*splicePipe, error) { return nil, errors.ErrUnsupported }

func (p *splicePipe) close() {}
