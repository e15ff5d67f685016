package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"fsm/control"
)

// webdavFrontend is the one HTTP listener: WebDAV, the control API and the
// page. fsm cannot run without it: a Serve that fails ends fsm.
type webdavFrontend struct {
	srv *http.Server
	ln  net.Listener
}

func (w *webdavFrontend) name() string { return "webdav" }

func (w *webdavFrontend) start(ctx context.Context, fail func(error)) error {
	go func() {
		// ErrServerClosed is shutdown's doing, after serve has returned.
		if err := w.srv.Serve(w.ln); !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("http server: %w", err))
		}
	}()
	return nil
}

// mount: WebDAV offers URLs, not local paths.
func (w *webdavFrontend) mount() (control.Mount, bool) { return control.Mount{}, false }

// drain closes the listener and waits for every response to finish.
func (w *webdavFrontend) drain(ctx context.Context) error {
	if err := w.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("WebDAV responses still running: %w", err)
	}
	return nil
}

// stop waits, bounded by ctx, for the answers of reads that shutdown has
// just failed (a 503 for a read blocked on a stalled origin) to leave, and
// then closes the connections still open. A second Shutdown returns as soon
// as every connection is idle.
func (w *webdavFrontend) stop(ctx context.Context) error {
	if err := w.srv.Shutdown(ctx); err != nil {
		w.srv.Close()
		return fmt.Errorf("WebDAV connections closed with responses still running: %w", err)
	}
	return nil
}

// abort leaves the connections to the process's exit.
func (w *webdavFrontend) abort() {}
