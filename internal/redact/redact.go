// Package redact hides the secrets that signed URLs carry before a URL goes
// into a log line or an error message.
package redact

import (
	"errors"
	"net/url"
)

// URL returns raw without its query string and user info, which is where
// signed URLs (S3, GCS, CDN tokens) keep their credentials.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.User = nil
	u.Fragment = ""
	return u.String()
}

// Error strips the secret part of the URL that net/http's *url.Error puts in
// its message ("Get \"https://h/f?sig=…\": EOF"), in place, and returns err.
func Error(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = URL(ue.URL)
	}
	return err
}
