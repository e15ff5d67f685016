package index

import (
	"fmt"

	"fsm/internal/redact"
)

// PageError is how every listing error reads: the page (or, for a limit,
// the folder) it concerns and why. URL is already redacted, so the message
// is safe to log and to show.
type PageError struct {
	URL string
	Err error
}

func (e *PageError) Error() string { return "index " + e.URL + ": " + e.Err.Error() }
func (e *PageError) Unwrap() error { return e.Err }

func pageError(rawURL string, err error) error {
	return &PageError{URL: redact.URL(rawURL), Err: err}
}

// StatusError is a page that answered with a status other than 200.
type StatusError struct {
	Code   int
	Status string // the response's status line, e.g. "404 Not Found"
}

func (e *StatusError) Error() string {
	if e.Status == "" {
		return fmt.Sprintf("HTTP %d", e.Code)
	}
	return "HTTP " + e.Status
}
