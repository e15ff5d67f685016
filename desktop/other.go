//go:build !linux && !darwin && !windows

package desktop

import (
	"context"
	"errors"
	"net/url"
	"runtime"
)

func mountOS(context.Context, client, *url.URL, Options) (*Mounted, error) {
	return nil, errors.New("desktop mount: no desktop WebDAV client is known on " + runtime.GOOS + "; mount the WebDAV URL with a client of your own")
}
