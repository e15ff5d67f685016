package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// page is one fetched index page: its body and the URL it came from after
// redirects, which its relative links resolve against.
type page struct {
	url  *url.URL
	body []byte
}

// fetch GETs one index page. Errors name no URL: the caller wraps them in
// a PageError.
func fetch(ctx context.Context, client Doer, u *url.URL, maxBytes int64) (page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return page{}, err
	}
	req.Header.Set("Accept", "text/html, application/xhtml+xml;q=0.9, */*;q=0.1")
	// Identity: the body bound is on the bytes read, and a Doer that is not
	// an *http.Client (or one with compression disabled) would otherwise
	// hand over a body it cannot parse.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, with its query
		}
		return page{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return page{}, &StatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return page{}, fmt.Errorf("unasked-for Content-Encoding %q", ce)
	}
	// The type is checked before the body is read when the header gives
	// it, so a URL that names a big file fails as what it is, not as a
	// page too large. Small servers omit it: their pages are sniffed the
	// way browsers do.
	contentType := resp.Header.Get("Content-Type")
	if contentType != "" {
		if err := checkHTML(contentType); err != nil {
			return page{}, err
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return page{}, fmt.Errorf("reading the page: %w", err)
	}
	if contentType == "" {
		if err := checkHTML(http.DetectContentType(body)); err != nil {
			return page{}, err
		}
	}
	if int64(len(body)) > maxBytes {
		return page{}, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxBytes)
	}
	final := u
	if resp.Request != nil && resp.Request.URL != nil {
		final = resp.Request.URL
	}
	return page{url: final, body: body}, nil
}

// checkHTML accepts the media types of HTML: text/html and
// application/xhtml+xml.
func checkHTML(contentType string) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("%w: Content-Type %q", ErrNotHTML, contentType)
	}
	switch mt {
	case "text/html", "application/xhtml+xml":
		return nil
	}
	return fmt.Errorf("%w: Content-Type %s", ErrNotHTML, mt)
}
