package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"fsm/internal/httpnum"
	"fsm/internal/redact"
	"fsm/internal/safetext"
)

// The errors a caller tells apart with errors.Is / errors.As. Each names a
// different party: the request itself, the origin, or the local disk.
var (
	// ErrClosed is returned by reads that start or wait after Close began.
	ErrClosed = errors.New("store closed")
	// ErrChanged means the origin's file is no longer the one that was
	// staged; no byte of the new version is ever handed out.
	ErrChanged = errors.New("origin file changed since it was staged; unstage and stage it again")
	// ErrBadURL: the source is not an absolute http or https URL.
	ErrBadURL = errors.New("bad URL")
	// ErrNoAnswer: the origin did not answer (connection refused or reset,
	// timeout, or it went silent for longer than the stall timeout).
	ErrNoAnswer = errors.New("origin did not answer")
	// ErrEncoded: the origin answered with an encoded body (gzip, br, ...)
	// although fsm asked for identity; those are not the file's bytes.
	ErrEncoded = errors.New("the origin sent an encoded answer although fsm asked for the plain bytes")
	// ErrNoSpace: the cache disk cannot hold the file even after evicting
	// what is idle.
	ErrNoSpace = errors.New("cache disk is full")
)

// StatusError is an HTTP status from the origin that is not the answer the
// request needs (a 404, a 503, ...).
type StatusError struct {
	Code       int
	Status     string        // as sent, e.g. "404 Not Found"
	retryAfter time.Duration // from Retry-After; 0 if none
}

func (e *StatusError) Error() string { return "origin answered " + e.Status }

func statusErr(resp *http.Response) *StatusError {
	st := resp.Status
	if st == "" {
		st = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	// The reason phrase is the origin's own text: it reaches logs, the API
	// and terminals, so it is one bounded line without escape sequences.
	return &StatusError{Code: resp.StatusCode, Status: safetext.Limit(st, 100), retryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// retryAfter parses Retry-After (seconds, or an HTTP date); 0 if absent or
// unparsable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, ok := httpnum.Digits(v); ok {
		return time.Duration(min(n, 1<<31)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// refused: the statuses an expired signed URL gets.
func (e *StatusError) refused() bool {
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusGone:
		return true
	}
	return false
}

// transient: statuses that say "try again later".
func (e *StatusError) transient() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout
}

var (
	// errNoRange: the origin answered a ranged GET with the whole unchanged file.
	errNoRange = errors.New("origin ignores Range")
	// errReresolve: the redirect target refused us; the next attempt goes
	// to the staged URL again.
	errReresolve = errors.New("redirect target refused the request; following the staged URL again")
	// errWrite: the temp file could not be written (or read back).
	errWrite = errors.New("write temp file")
	// errDiskFull: fallocate, or the free margin (disk.go), found no room.
	errDiskFull = errors.New("no space left on the cache disk")
	// errFileTooBig: the cache disk's file system refused the size itself.
	errFileTooBig = errors.New("file too large for the cache disk's file system")
)

// retriable reports whether another attempt may succeed.
func retriable(err error) bool {
	if errors.Is(err, errReresolve) {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.transient()
	}
	for _, permanent := range []error{ErrChanged, errWrite, ErrNoSpace, ErrBadURL, ErrDowngrade, errBadLocation, ErrEncoded, errNoTLS, errUntrusted} {
		if errors.Is(err, permanent) {
			return false
		}
	}
	return true
}

// checkURL accepts absolute http and https URLs. The message names the URL
// with its secrets (query, user info) removed.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, secrets included
		}
		return fmt.Errorf("%w %s: %w", ErrBadURL, redact.URL(raw), err)
	}
	if u.Scheme == "" {
		// "example.com/file.iso": a host without a scheme parses as a
		// relative path.
		return fmt.Errorf("%w %s: no scheme; did you mean %s?", ErrBadURL, redact.URL(raw), redact.URL("http://"+strings.TrimPrefix(raw, "//")))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w %s: only http:// and https:// sources are supported", ErrBadURL, redact.URL(raw))
	}
	if u.Host == "" {
		return fmt.Errorf("%w %s: no host", ErrBadURL, redact.URL(raw))
	}
	return nil
}

// requestError turns what http.Client.Do returned into an error that does
// not name the URL (the caller does, once) and that says who failed: a
// stalled or unreachable origin is ErrNoAnswer, the caller's own
// cancellation stays its context error.
func requestError(parent, ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && parent.Err() == nil {
		return c // the watchdog's verdict
	}
	if perr := parent.Err(); perr != nil {
		return perr
	}
	host := ""
	var ue *url.Error
	if errors.As(err, &ue) {
		host = hostOf(ue.URL)
		err = ue.Err
	}
	if uerr := userTermsError(host, err); uerr != nil {
		return uerr
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrNoAnswer, err)
	}
	return err
}
