package vfs

import (
	"context"
	"errors"
	"fmt"
	"fsm/internal/redact"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// remote is what staging learns about a source before anything is shown.
type remote struct {
	url          string // after redirects: what the store fetches
	name         string // from Content-Disposition or the URL's last segment
	size         int64  // -1 when the origin would not say
	etag         string
	lastModified time.Time
	contentType  string
	noRange      bool // the origin ignores Range
	ranges       bool // the origin says it serves Range (Accept-Ranges: bytes)
}

// probe learns size, validators and name with a HEAD, or, when HEAD is
// refused or says no size (signed URLs often allow GET only), with a
// one-byte ranged GET. It never downloads the body.
func (f *FS) probe(ctx context.Context, rawURL string) (*remote, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, secrets included
		}
		return nil, fmt.Errorf("bad URL %s: %w", redact.URL(rawURL), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("bad URL %s: only http:// and https:// sources are supported: %w", redact.URL(rawURL), fs.ErrInvalid)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("bad URL %s: no host: %w", redact.URL(rawURL), fs.ErrInvalid)
	}
	head, headErr := f.probeWith(ctx, http.MethodHead, rawURL)
	if headErr == nil && head.size >= 0 && (head.ranges || head.noRange) {
		return head, nil
	}
	// HEAD refused, said no size, or did not say whether Range works: one
	// byte of GET tells, so the store never opens parallel connections to
	// an origin that would answer each with the whole file.
	r, err := f.probeWith(ctx, http.MethodGet, rawURL)
	if err != nil {
		if headErr == nil && head.size >= 0 {
			return head, nil
		}
		if headErr != nil {
			return nil, fmt.Errorf("%w (HEAD: %v)", err, headErr)
		}
		return nil, err
	}
	return r, nil
}

func (f *FS) probeWith(ctx context.Context, method, rawURL string) (*remote, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("bad URL %s: %w", redact.URL(rawURL), redact.Error(err))
	}
	if method == http.MethodGet {
		req.Header.Set("Range", "bytes=0-0")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, redact.URL(rawURL), redact.Error(err))
	}
	defer func() {
		// A one-byte 206 is drained so its connection goes back to the
		// pool for the first read; closing a 200 unread aborts it, so the
		// whole file is never downloaded here.
		if resp.StatusCode == http.StatusPartialContent {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		}
		resp.Body.Close()
	}()
	r := &remote{
		url:         resp.Request.URL.String(),
		size:        -1,
		etag:        resp.Header.Get("ETag"),
		contentType: resp.Header.Get("Content-Type"),
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		r.lastModified = lm
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		total := contentRangeTotal(resp.Header.Get("Content-Range"))
		r.size = total
	case resp.StatusCode == http.StatusOK:
		r.size = resp.ContentLength
		if method == http.MethodGet {
			r.noRange = true
		} else {
			ar := resp.Header.Get("Accept-Ranges")
			r.noRange = strings.EqualFold(ar, "none")
			r.ranges = strings.EqualFold(ar, "bytes")
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// Only an empty file cannot satisfy bytes=0-0.
		if contentRangeTotal(resp.Header.Get("Content-Range")) == 0 {
			r.size = 0
			break
		}
		fallthrough
	default:
		return nil, fmt.Errorf("%s %s: origin answered %s", method, redact.URL(rawURL), resp.Status)
	}
	r.name = nameFrom(resp)
	return r, nil
}

func contentRangeTotal(v string) int64 {
	i := strings.LastIndexByte(v, '/')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(v[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// nameFrom picks the file name: Content-Disposition's filename wins over the
// final URL's last path segment (percent-decoded).
func nameFrom(resp *http.Response) string {
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil {
			if n := path.Base(strings.ReplaceAll(params["filename"], "\\", "/")); n != "" && n != "." && n != "/" {
				return n
			}
		}
	}
	p := resp.Request.URL.Path
	if p == "" || strings.HasSuffix(p, "/") {
		return ""
	}
	return path.Base(p)
}

// fetchWhole downloads a source of unknown size into a new temp file, so it
// can be shown with its real size.
func (f *FS) fetchWhole(ctx context.Context, rawURL string) (*os.File, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("bad URL %s: %w", redact.URL(rawURL), redact.Error(err))
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", redact.URL(rawURL), redact.Error(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: origin answered %s", redact.URL(rawURL), resp.Status)
	}
	file, err := f.opts.Manager.CreateTemp()
	if err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(file, resp.Body)
	if err != nil {
		file.Close()
		removeQuiet(file.Name())
		return nil, 0, fmt.Errorf("GET %s: download of a file of unknown size broke after %d bytes: %w", redact.URL(rawURL), n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		file.Close()
		removeQuiet(file.Name())
		return nil, 0, fmt.Errorf("GET %s: got %d bytes, origin announced %d", redact.URL(rawURL), n, resp.ContentLength)
	}
	return file, n, nil
}

var errClosed = errors.New("fsm is shutting down")
