package webdav

import (
	"net/http"
	"strings"
	"time"

	"fsm/internal/httpnum"
)

// The RFC 9110 request rules for GET and HEAD on a file: preconditions
// (section 13.2.2's order), If-Range, and Range. They are pure functions of
// the request headers and the file's metadata, so no answer decided here
// ever reads content.

// verdict is what the preconditions decide.
type verdict int

const (
	proceed            verdict = iota
	notModified                // 304
	preconditionFailed         // 412
)

// preconditions evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since against a file that exists with etag (strong) and mod
// (whole seconds).
func preconditions(h http.Header, etag string, mod time.Time) verdict {
	if im := joined(h, "If-Match"); im != "" {
		if !etagListMatches(im, etag, true) {
			return preconditionFailed
		}
	} else if t, err := http.ParseTime(h.Get("If-Unmodified-Since")); err == nil && mod.After(t) {
		return preconditionFailed
	}
	if inm := joined(h, "If-None-Match"); inm != "" {
		if etagListMatches(inm, etag, false) {
			return notModified
		}
	} else if t, err := http.ParseTime(h.Get("If-Modified-Since")); err == nil && !mod.After(t) {
		return notModified
	}
	return proceed
}

// ifRangeHolds reports whether a Range may be honoured: there is no
// If-Range, or it names the current version (a strong ETag, or exactly the
// Last-Modified date). A stale or malformed If-Range means "send it all".
func ifRangeHolds(h http.Header, etag string, mod time.Time) bool {
	v := strings.TrimSpace(h.Get("If-Range"))
	switch {
	case v == "":
		return true
	case strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/"):
		return etag != "" && v == etag
	}
	t, err := http.ParseTime(v)
	return err == nil && t.Equal(mod)
}

func joined(h http.Header, key string) string {
	return strings.TrimSpace(strings.Join(h.Values(key), ","))
}

// etagListMatches reports whether a comma-separated list of entity tags
// (or "*") contains etag, with strong or weak comparison. A malformed list
// matches nothing.
func etagListMatches(list, etag string, strong bool) bool {
	if list == "*" {
		return true
	}
	if etag == "" {
		return false
	}
	for {
		list = strings.TrimLeft(list, " \t,")
		if list == "" {
			return false
		}
		weak := strings.HasPrefix(list, "W/")
		if weak {
			list = list[2:]
		}
		if !strings.HasPrefix(list, `"`) {
			return false
		}
		end := strings.IndexByte(list[1:], '"')
		if end < 0 {
			return false
		}
		tag := list[:end+2]
		list = list[end+2:]
		if tag == etag && !(strong && weak) {
			return true
		}
	}
}

// rangeKind is what a Range header asks of a file.
type rangeKind int

const (
	rangeWhole         rangeKind = iota // no usable Range: send the whole file (200)
	rangePart                           // send [off, off+n) (206)
	rangeUnsatisfiable                  // no requested range overlaps the file (416)
)

// parseRange reads a Range header for a file of size bytes:
//
//   - no header, a unit other than "bytes", or a syntactically invalid
//     bytes set is ignored: the whole file (RFC 9110 section 14.2 lets a
//     server ignore Range, and RFC 7233 required it for invalid sets);
//   - the first satisfiable range of the set is served, alone: a
//     multi-range request gets 206 with one part, which its Content-Range
//     names (no multipart/byteranges: none of fsm's clients asks for
//     several ranges, and each part could start a download of its own);
//   - a set with no satisfiable range is unsatisfiable: a first byte at or
//     past the end, a zero-length suffix ("-0"), any range of an empty file.
func parseRange(header string, size int64) (off, n int64, kind rangeKind) {
	unit, set, ok := strings.Cut(strings.TrimSpace(header), "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return 0, size, rangeWhole
	}
	type span struct{ off, n int64 }
	var first *span
	specs := 0
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		specs++
		a, b, ok := strings.Cut(spec, "-")
		if !ok {
			return 0, size, rangeWhole
		}
		a, b = strings.TrimSpace(a), strings.TrimSpace(b)
		if a == "" {
			suffix, ok := httpnum.Digits(b)
			if !ok {
				return 0, size, rangeWhole
			}
			if first == nil && suffix > 0 && size > 0 {
				start := max(size-suffix, 0)
				first = &span{start, size - start}
			}
			continue
		}
		start, ok := httpnum.Digits(a)
		if !ok {
			return 0, size, rangeWhole
		}
		last := size - 1
		if b != "" {
			l, ok := httpnum.Digits(b)
			if !ok || l < start {
				return 0, size, rangeWhole
			}
			last = min(l, size-1)
		}
		if first == nil && start < size {
			first = &span{start, last - start + 1}
		}
	}
	switch {
	case specs == 0:
		return 0, size, rangeWhole
	case first == nil:
		return 0, 0, rangeUnsatisfiable
	}
	return first.off, first.n, rangePart
}
