// Package redact hides the secrets that signed URLs carry before a URL goes
// into a log line or an error message.
package redact

import (
	"net/url"
	"strings"
)

// URL returns raw without its query string and user info, which is where
// signed URLs (S3, GCS, CDN tokens) keep their credentials.
// A "?…" marks where a query string was.
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

// Bare is URL without the "?…" mark: the URL as listings show it.
func Bare(raw string) string {
	return strings.TrimSuffix(URL(raw), "?…")
}
