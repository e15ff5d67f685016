package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"fsm/internal/redact"
	"fsm/internal/watchdog"
)

// Remote is what a probe learns about a source before anything is shown.
type Remote struct {
	URL string // after redirects: what fetches go to
	// Name is Content-Disposition's filename, else the final URL's last
	// path segment, percent-decoded; "" if there is none. It comes from the
	// origin and is not checked: the caller decides what names it accepts.
	Name         string
	Size         int64 // -1 if the origin will not tell
	ETag         string
	LastModified time.Time
	ContentType  string
	NoRange      bool // the origin ignores Range
}

// Verified reports whether the origin sent a validator (ETag or
// Last-Modified): without one, a change there is caught only where bytes
// are read twice (see digest.go).
func (r *Remote) Verified() bool { return r.ETag != "" || !r.LastModified.IsZero() }

// probed is one probe answer plus what only the probe itself needs.
type probed struct {
	Remote
	ranges bool // the origin says it serves Range (Accept-Ranges: bytes)
}

// Probe learns size, validators and name with a HEAD, or, when HEAD is
// refused, says no size or does not say whether Range works (signed URLs
// often allow GET only), with a one-byte ranged GET. It never downloads the
// body. header is sent as Source.Header is. Errors name the URL (without
// its secrets) once.
func (m *Manager) Probe(ctx context.Context, rawURL string, header http.Header) (*Remote, error) {
	if err := checkURL(rawURL); err != nil {
		return nil, err
	}
	head, headErr := m.probeWith(ctx, http.MethodHead, rawURL, header)
	if headErr == nil && head.Size >= 0 && (head.ranges || head.NoRange) {
		return &head.Remote, nil
	}
	// One byte of GET tells, so the store never opens parallel connections
	// to an origin that would answer each with the whole file.
	r, err := m.probeWith(ctx, http.MethodGet, rawURL, header)
	switch {
	case err == nil:
		return &r.Remote, nil
	case headErr == nil && head.Size >= 0:
		return &head.Remote, nil
	case headErr != nil && headErr.Error() != err.Error():
		// The GET's error is the verdict (its type picks the caller's
		// status); HEAD's is only told, so it is not wrapped.
		return nil, fmt.Errorf("probe %s: %w (HEAD: %v)", redact.URL(rawURL), err, headErr)
	default:
		return nil, fmt.Errorf("probe %s: %w", redact.URL(rawURL), err)
	}
}

// probeWith sends one HEAD, or one GET for the first byte. Its answer must
// come within the stall timeout.
func (m *Manager) probeWith(parent context.Context, method, rawURL string, header http.Header) (*probed, error) {
	ctx, wd := watch(parent, m.opts.StallTimeout)
	defer wd.Stop()
	resp, err := m.send(ctx, method, rawURL, rawURL, header, func(h http.Header) {
		if method == http.MethodGet {
			h.Set("Range", "bytes=0-0")
		}
	})
	if err != nil {
		return nil, requestError(parent, ctx, err)
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
	r := &probed{Remote: Remote{
		URL:         resp.Request.URL.String(),
		Size:        -1,
		ETag:        resp.Header.Get("ETag"),
		ContentType: resp.Header.Get("Content-Type"),
	}}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		r.LastModified = lm
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		cr, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || cr.first != 0 {
			return nil, fmt.Errorf("origin answered the first byte with %q", resp.Header.Get("Content-Range"))
		}
		r.Size = cr.total
	case http.StatusOK:
		r.Size = resp.ContentLength
		if method == http.MethodGet {
			r.NoRange = true
		} else {
			ar := resp.Header.Get("Accept-Ranges")
			r.NoRange = strings.EqualFold(ar, "none")
			r.ranges = strings.EqualFold(ar, "bytes")
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// Only an empty file cannot satisfy bytes=0-0.
		if cr, err := parseContentRange(resp.Header.Get("Content-Range")); err == nil && cr.first < 0 && cr.total == 0 {
			r.Size = 0
			break
		}
		return nil, statusErr(resp)
	default:
		return nil, statusErr(resp)
	}
	r.Name = nameOf(resp)
	return r, nil
}

// nameOf picks the file name: Content-Disposition's filename wins over the
// final URL's last path segment (percent-decoded).
func nameOf(resp *http.Response) string {
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

// Stage makes the store for src as probe r found it; neither is changed. A
// source of unknown size is downloaded whole first (each read of it under
// the stall watchdog), so the store, and Store.Size, have its real size;
// arr, if not nil, follows that download for listings.
func (m *Manager) Stage(ctx context.Context, src Source, r *Remote, arr *Arrival) (*Store, error) {
	rem := *r
	if rem.Size >= 0 {
		return m.create(src, rem)
	}
	m.log.Info("origin does not tell the size; downloading it whole before showing it", "file", src.Name)
	f, n, dig, err := m.fetchWhole(ctx, &src, rem.URL, arr)
	if err != nil {
		return nil, err
	}
	rem.Size = n
	s, err := m.adopt(src, rem, f)
	if err == nil && s.dig != nil {
		s.dig = dig // not shared yet
	}
	return s, err
}

// fetchWhole downloads a source of unknown size into a new temp file, with
// the block checksums a later download is verified against, counting its
// bytes in arr.
func (m *Manager) fetchWhole(parent context.Context, src *Source, resolved string, arr *Arrival) (*os.File, int64, *digests, error) {
	u := resolved
	if u == "" {
		u = src.URL
	}
	fail := func(err error) error { return fmt.Errorf("download %s: %w", redact.URL(src.URL), err) }
	ctx, wd := watch(parent, m.opts.StallTimeout)
	defer wd.Stop()
	resp, err := m.send(ctx, http.MethodGet, u, src.URL, src.Header, nil)
	if err != nil {
		return nil, 0, nil, fail(requestError(parent, ctx, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, nil, fail(statusErr(resp))
	}
	f, err := m.createTemp()
	if err != nil {
		return nil, 0, nil, err
	}
	dig := newDigests()
	arr.start(protocolOf(resp))
	g := &growth{m: m, f: f, arr: arr}
	defer g.done()
	n, err := io.Copy(g, io.TeeReader(kickReader{resp.Body, wd}, digestWriter{dig}))
	if err == nil {
		err = dig.end()
	}
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("got %d bytes, origin announced %d", n, resp.ContentLength)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		var pe *os.PathError
		if !errors.As(err, &pe) && !errors.Is(err, ErrNoSpace) { // not the temp file's own error
			err = requestError(parent, ctx, err)
		}
		return nil, 0, nil, fail(fmt.Errorf("broke after %d bytes: %w", n, err))
	}
	return f, n, dig, nil
}

// digestWriter feeds the first download of a file into its digests, which
// cannot disagree with themselves yet.
type digestWriter struct{ d *digests }

func (w digestWriter) Write(p []byte) (int, error) { return len(p), w.d.feed(p) }

// kickReader tells a watchdog about every byte read through it.
type kickReader struct {
	r  io.Reader
	wd *watchdog.Dog
}

func (k kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.wd.Kick()
	}
	return n, err
}
