package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"fsm/internal/watchdog"
)

// send issues one request for u. hdr (a Source's own headers) goes only to
// home's host: with the request when u is on it, and along redirects that
// stay on it; a redirect to another host gets none of it (redirect.go has
// the other rules for redirects).
func (m *Manager) send(ctx context.Context, method, u, home string, hdr http.Header, set func(http.Header)) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, secrets included
		}
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	homeHost := hostOf(home)
	if req.URL.Host == homeHost {
		for k, v := range hdr {
			req.Header[k] = slices.Clone(v)
		}
	}
	if set != nil {
		set(req.Header)
	}
	// The bytes stored are the file's bytes: never a compressed form of
	// them, which net/http would otherwise ask for and (only then) undo.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := originClient(m.opts.Client, homeHost, hdr).Do(req)
	if err != nil {
		return nil, err
	}
	if ce := resp.Header.Get("Content-Encoding"); resp.StatusCode/100 == 2 && ce != "" && !strings.EqualFold(ce, "identity") {
		resp.Body.Close()
		return nil, fmt.Errorf("%w (Content-Encoding: %.40q)", ErrEncoded, ce)
	}
	return resp, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// watch returns ctx under a watchdog: when the origin sends nothing for d,
// a silent connection becomes an error (ErrNoAnswer) instead of a wait
// without end. Stop the dog when the request is done.
func watch(parent context.Context, d time.Duration) (context.Context, *watchdog.Dog) {
	return watchdog.New(parent, d, fmt.Errorf("%w: it sent nothing for %s", ErrNoAnswer, d))
}
