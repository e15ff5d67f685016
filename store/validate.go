package store

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"fsm/internal/httpnum"
)

// This file judges origin responses. Everything here is a pure function of
// the staged Source, the request as sent and the response headers, so the
// rules that keep two versions of a file from mixing can be tested as a
// table without a network.

// verdict is what a fetch does with a response.
type verdict int

const (
	accept  verdict = iota // bytes of the staged version, starting where asked
	noRange                // the whole unchanged file to a ranged request
	changed                // another version of the file: ErrChanged
	retry                  // unusable (status, malformed header, wrong start): the retry policy decides
)

func (v verdict) String() string {
	return [...]string{"accept", "no-range", "changed", "retry"}[v]
}

// ask is a fetch request as it was sent.
type ask struct {
	start, end int64 // the bytes asked for; ignored for a whole-body request
	ranged     bool  // Range was sent
}

// answer is the part of a response that validation looks at.
type answer struct {
	code          int
	status        string
	contentRange  string
	contentLength int64 // -1 if unknown
	etag          string
	lastModified  string
	retryAfter    time.Duration
}

func answerOf(resp *http.Response) answer {
	return answer{
		code:          resp.StatusCode,
		status:        resp.Status,
		contentRange:  resp.Header.Get("Content-Range"),
		contentLength: resp.ContentLength,
		etag:          resp.Header.Get("ETag"),
		lastModified:  resp.Header.Get("Last-Modified"),
		retryAfter:    retryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
}

// judge decides whether a carries the staged version's bytes starting at
// q.start. For accept, end is where the announced bytes end (a 206 may
// honestly announce fewer bytes than asked for: that is a normal end, and
// the fetch continues with a new request). err explains any other verdict.
func judge(rem *Remote, q ask, a answer) (v verdict, end int64, err error) {
	switch a.code {
	case http.StatusPartialContent:
		if !q.ranged {
			return changed, 0, fmt.Errorf("%w: 206 to a request without Range", ErrChanged)
		}
		if err := sameVersion(rem, a); err != nil {
			return changed, 0, err
		}
		cr, err := parseContentRange(a.contentRange)
		if err != nil || cr.first < 0 {
			return retry, 0, fmt.Errorf("origin sent a malformed Content-Range %q", a.contentRange)
		}
		if cr.total >= 0 && cr.total != rem.Size {
			return changed, 0, fmt.Errorf("%w: size is now %d, was %d", ErrChanged, cr.total, rem.Size)
		}
		if cr.first != q.start {
			return retry, 0, fmt.Errorf("origin sent bytes from %d when asked for %d (Content-Range %q)", cr.first, q.start, a.contentRange)
		}
		return accept, cr.last + 1, nil
	case http.StatusOK:
		if err := sameVersion(rem, a); err != nil {
			return changed, 0, err
		}
		if a.contentLength >= 0 && a.contentLength != rem.Size {
			return changed, 0, fmt.Errorf("%w: size is now %d, was %d", ErrChanged, a.contentLength, rem.Size)
		}
		if q.ranged {
			// With If-Range sent, a 200 from a Range-capable origin means
			// the validator no longer matched; sameVersion caught the
			// common case, and an origin without validators that answers
			// 200 to Range simply ignores it.
			return noRange, 0, errNoRange
		}
		return accept, rem.Size, nil
	case http.StatusRequestedRangeNotSatisfiable:
		return changed, 0, fmt.Errorf("%w: origin answered 416 for bytes %d-%d (file got shorter)", ErrChanged, q.start, q.end-1)
	default:
		return retry, 0, &StatusError{Code: a.code, Status: a.status, retryAfter: a.retryAfter}
	}
}

// sameVersion compares a response's validators with the staged ones. A
// validator the response omits is not compared.
func sameVersion(rem *Remote, a answer) error {
	if e := a.etag; e != "" && rem.ETag != "" && strings.TrimPrefix(e, "W/") != strings.TrimPrefix(rem.ETag, "W/") {
		return fmt.Errorf("%w: ETag is now %s, was %s", ErrChanged, e, rem.ETag)
	}
	if lm := a.lastModified; lm != "" && !rem.LastModified.IsZero() {
		t, err := http.ParseTime(lm)
		if err == nil && !t.Equal(rem.LastModified.Truncate(time.Second)) {
			return fmt.Errorf("%w: Last-Modified is now %s, was %s", ErrChanged, lm, rem.LastModified.UTC().Format(http.TimeFormat))
		}
	}
	return nil
}

// ifRange is the validator that makes the origin refuse to mix versions: a
// strong ETag, else the Last-Modified date (weak ETags are not allowed in
// If-Range).
func ifRange(rem *Remote) string {
	if e := rem.ETag; e != "" && !strings.HasPrefix(e, "W/") {
		return e
	}
	if !rem.LastModified.IsZero() {
		return rem.LastModified.UTC().Format(http.TimeFormat)
	}
	return ""
}

// contentRange is a parsed Content-Range header: "bytes first-last/total".
// first and last are -1 in the unsatisfied form "bytes */total"; total is
// -1 when the origin sent "*".
type contentRange struct{ first, last, total int64 }

// parseContentRange is the one parser for Content-Range, used by probing
// and fetching alike. It is strict: digits only, last >= first, and a known
// total must exceed last.
func parseContentRange(v string) (contentRange, error) {
	bad := fmt.Errorf("malformed Content-Range %q", v)
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return contentRange{}, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return contentRange{}, bad
	}
	cr := contentRange{first: -1, last: -1, total: -1}
	if tot != "*" {
		n, ok := httpnum.Digits(tot)
		if !ok {
			return contentRange{}, bad
		}
		cr.total = n
	}
	if rng == "*" {
		if cr.total < 0 {
			return contentRange{}, bad
		}
		return cr, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return contentRange{}, bad
	}
	first, ok1 := httpnum.Digits(a)
	last, ok2 := httpnum.Digits(b)
	if !ok1 || !ok2 || last < first || (cr.total >= 0 && last >= cr.total) {
		return contentRange{}, bad
	}
	cr.first, cr.last = first, last
	return cr, nil
}
