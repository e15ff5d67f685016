package testorigin

import (
	"net/http"
	"strings"
	"time"

	"fsm/internal/httpnum"
)

// ifRangeOK reports whether a Range request may be honoured given its
// If-Range header (true when there is none).
func (o *Origin) ifRangeOK(r *http.Request, v version) bool {
	ir := strings.TrimSpace(r.Header.Get("If-Range"))
	if ir == "" {
		return true
	}
	if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
		// Strong comparison: weak tags never match.
		return v.etag != "" && !strings.HasPrefix(ir, "W/") && !strings.HasPrefix(v.etag, "W/") && ir == v.etag
	}
	if o.opts.NoLastModified {
		return false
	}
	t, err := http.ParseTime(ir)
	return err == nil && t.Equal(v.lastMod.Truncate(time.Second))
}

type rangeKind int

const (
	rangeIgnore        rangeKind = iota // serve 200 with the whole body
	rangeUnsatisfiable                  // 416
	rangeOK                             // 206
)

// parseRange interprets a Range header for a file of the given size,
// returning the start and length of the single satisfiable range.
func parseRange(h string, size int64) (start, length int64, kind rangeKind) {
	unit, spec, ok := strings.Cut(h, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return 0, 0, rangeIgnore
	}
	if strings.Contains(spec, ",") {
		return 0, 0, rangeIgnore // multi-range: documented as 200 full body
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, rangeIgnore
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		// Suffix range "-n": the last n bytes.
		n, ok := httpnum.Digits(last)
		if !ok {
			return 0, 0, rangeIgnore
		}
		if n == 0 || size == 0 {
			return 0, 0, rangeUnsatisfiable
		}
		n = min(n, size)
		return size - n, n, rangeOK
	}
	a, ok := httpnum.Digits(first)
	if !ok {
		return 0, 0, rangeIgnore
	}
	b := size - 1
	if last != "" {
		if b, ok = httpnum.Digits(last); !ok || b < a {
			return 0, 0, rangeIgnore
		}
	}
	if a >= size {
		return 0, 0, rangeUnsatisfiable
	}
	b = min(b, size-1)
	return a, b - a + 1, rangeOK
}
