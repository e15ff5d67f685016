package store

import (
	"errors"
	"fmt"
	"net/http"
)

// Redirects are where a source's secrets could leave the place they were
// sent to. The rules, in one place:
//   - a Source's own headers go only to its staged URL's host (send);
//   - no redirect from https to plain http is followed, with or without
//     headers: the next hop, and everything a signed target's query holds,
//     would cross the network in clear text;
//   - no request carries a Referer, which Go's client fills with the
//     previous URL, signed query included, when it follows a redirect;
//   - a Location that does not parse never reaches an error message, which
//     would otherwise quote it, query and all.

// ErrDowngrade: the origin redirected an https request to plain http.
var ErrDowngrade = errors.New("the origin redirects from https to plain http; fsm does not follow it (use an https URL that stays on https)")

// errBadLocation: a redirect whose Location is not a URL.
var errBadLocation = errors.New("the origin redirects to a Location that is not a URL")

// maxRedirects is as many hops as net/http's default policy allows.
const maxRedirects = 10

// redirectPolicy is the CheckRedirect of every origin request. home is the
// staged URL's host, hdr the Source's own headers, next the client's own
// policy (nil: net/http's default).
func redirectPolicy(homeHost string, hdr http.Header, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(r *http.Request, via []*http.Request) error {
		r.Header.Del("Referer")
		if prev := via[len(via)-1]; prev.URL.Scheme == "https" && r.URL.Scheme == "http" {
			return fmt.Errorf("%w: %s", ErrDowngrade, r.URL.Host)
		}
		if r.URL.Host != homeHost {
			for k := range hdr {
				r.Header.Del(k)
			}
		}
		if next != nil {
			return next(r, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
}

// locationCheck refuses a redirect answer whose Location does not parse
// before net/http's client quotes it whole in its error.
type locationCheck struct{ next http.RoundTripper }

func (l locationCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil || !isRedirect(resp.StatusCode) {
		return resp, err
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if _, perr := r.URL.Parse(loc); perr != nil {
			resp.Body.Close()
			return nil, errBadLocation
		}
	}
	return resp, nil
}

// isRedirect: the statuses net/http's client follows.
func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// originClient is c with the redirect rules above.
func originClient(c *http.Client, homeHost string, hdr http.Header) *http.Client {
	cc := *c
	cc.CheckRedirect = redirectPolicy(homeHost, hdr, c.CheckRedirect)
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cc.Transport = locationCheck{next}
	return &cc
}
