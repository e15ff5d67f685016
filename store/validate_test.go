package store

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	lm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	lmS := lm.Format(http.TimeFormat)
	later := lm.Add(time.Minute).Format(http.TimeFormat)
	const size = 1000
	strong := Remote{Size: size, ETag: `"v1"`, LastModified: lm} // If-Range: "v1"
	weak := Remote{Size: size, ETag: `W/"v1"`}                   // no If-Range
	dated := Remote{Size: size, LastModified: lm}                // If-Range: the date
	bare := Remote{Size: size}                                   // nothing to compare
	ranged := ask{start: 100, end: 200, ranged: true}
	whole := ask{start: 0, end: size}
	tests := []struct {
		name string
		src  Remote
		q    ask
		a    answer
		want verdict
		end  int64 // for accept
		is   error // for the error, when set
	}{
		{"206 exact", strong, ranged, answer{code: 206, contentRange: "bytes 100-199/1000", etag: `"v1"`, lastModified: lmS}, accept, 200, nil},
		{"206 shorter, honest", strong, ranged, answer{code: 206, contentRange: "bytes 100-149/1000", etag: `"v1"`}, accept, 150, nil},
		{"206 total unknown", strong, ranged, answer{code: 206, contentRange: "bytes 100-199/*"}, accept, 200, nil},
		{"206 without validators in the response", strong, ranged, answer{code: 206, contentRange: "bytes 100-199/1000"}, accept, 200, nil},
		{"206 weak etag, same", weak, ranged, answer{code: 206, contentRange: "bytes 100-199/1000", etag: `W/"v1"`}, accept, 200, nil},
		{"206 weak etag vs strong form", weak, ranged, answer{code: 206, contentRange: "bytes 100-199/1000", etag: `"v1"`}, accept, 200, nil},
		{"206 date validator, same", dated, ranged, answer{code: 206, contentRange: "bytes 100-199/1000", lastModified: lmS}, accept, 200, nil},
		{"206 no validators at all", bare, ranged, answer{code: 206, contentRange: "bytes 100-199/1000"}, accept, 200, nil},
		{"206 other etag", strong, ranged, answer{code: 206, contentRange: "bytes 100-199/1000", etag: `"v2"`}, changed, 0, ErrChanged},
		{"206 other weak etag", weak, ranged, answer{code: 206, contentRange: "bytes 100-199/1000", etag: `W/"v2"`}, changed, 0, ErrChanged},
		{"206 later Last-Modified", dated, ranged, answer{code: 206, contentRange: "bytes 100-199/1000", lastModified: later}, changed, 0, ErrChanged},
		{"206 other total", strong, ranged, answer{code: 206, contentRange: "bytes 100-199/2000"}, changed, 0, ErrChanged},
		{"206 to a whole-body request", strong, whole, answer{code: 206, contentRange: "bytes 0-999/1000"}, changed, 0, ErrChanged},
		{"206 wrong start", strong, ranged, answer{code: 206, contentRange: "bytes 0-199/1000"}, retry, 0, nil},
		{"206 malformed", strong, ranged, answer{code: 206, contentRange: "bytes 100-199"}, retry, 0, nil},
		{"206 signed start", strong, ranged, answer{code: 206, contentRange: "bytes +100-199/1000"}, retry, 0, nil},
		{"206 last beyond total", strong, ranged, answer{code: 206, contentRange: "bytes 100-1000/1000"}, retry, 0, nil},
		{"206 unsatisfied form", strong, ranged, answer{code: 206, contentRange: "bytes */1000"}, retry, 0, nil},
		{"206 missing", strong, ranged, answer{code: 206}, retry, 0, nil},
		{"200 to Range, same version", strong, ranged, answer{code: 200, contentLength: size, etag: `"v1"`}, noRange, 0, errNoRange},
		{"200 to Range, date If-Range refused", dated, ranged, answer{code: 200, contentLength: size, lastModified: lmS}, noRange, 0, errNoRange},
		{"200 to Range, no validators", bare, ranged, answer{code: 200, contentLength: -1}, noRange, 0, errNoRange},
		{"200 to Range, If-Range mismatch", strong, ranged, answer{code: 200, contentLength: size, etag: `"v2"`}, changed, 0, ErrChanged},
		{"200 to Range, other size", bare, ranged, answer{code: 200, contentLength: 999}, changed, 0, ErrChanged},
		{"200 whole body", strong, whole, answer{code: 200, contentLength: size, etag: `"v1"`}, accept, size, nil},
		{"200 whole body, no length", bare, whole, answer{code: 200, contentLength: -1}, accept, size, nil},
		{"200 whole body, later date", dated, whole, answer{code: 200, contentLength: -1, lastModified: later}, changed, 0, ErrChanged},
		{"416", strong, ranged, answer{code: 416, contentRange: "bytes */50"}, changed, 0, ErrChanged},
		{"503", strong, ranged, answer{code: 503, status: "503 Service Unavailable"}, retry, 0, nil},
		{"404", strong, ranged, answer{code: 404, status: "404 Not Found"}, retry, 0, nil},
	}
	for _, tc := range tests {
		v, end, err := judge(&tc.src, tc.q, tc.a)
		if v != tc.want {
			t.Errorf("%s: %v (%v), want %v", tc.name, v, err, tc.want)
			continue
		}
		if v == accept && (end != tc.end || err != nil) {
			t.Errorf("%s: end %d err %v, want %d", tc.name, end, err, tc.end)
		}
		if v != accept && err == nil {
			t.Errorf("%s: %v without an error", tc.name, v)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.is)
		}
	}
	// Statuses come back typed, with the code, for the retry policy and
	// the callers' own status codes.
	_, _, err := judge(&strong, ranged, answer{code: 503, status: "503 Service Unavailable"})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 503 || !retriable(err) {
		t.Errorf("503: %v, want a retriable *StatusError", err)
	}
	_, _, err = judge(&strong, ranged, answer{code: 404, status: "404 Not Found"})
	if !errors.As(err, &se) || se.Code != 404 || retriable(err) {
		t.Errorf("404: %v, want a final *StatusError", err)
	}
}

func TestIfRange(t *testing.T) {
	lm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		src  Remote
		want string
	}{
		{Remote{ETag: `"a"`, LastModified: lm}, `"a"`},
		{Remote{ETag: `W/"a"`, LastModified: lm}, lm.Format(http.TimeFormat)},
		{Remote{LastModified: lm}, lm.Format(http.TimeFormat)},
		{Remote{ETag: `W/"a"`}, ""},
		{Remote{}, ""},
	} {
		if got := ifRange(&tc.src); got != tc.want {
			t.Errorf("ifRange(%+v) = %q, want %q", tc.src, got, tc.want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want contentRange
		ok   bool
	}{
		{"bytes 0-0/1", contentRange{0, 0, 1}, true},
		{"bytes 5-9/*", contentRange{5, 9, -1}, true},
		{"bytes */0", contentRange{-1, -1, 0}, true},
		{"bytes */*", contentRange{}, false},
		{"bytes 9-5/10", contentRange{}, false},
		{"bytes 0-10/10", contentRange{}, false},
		{"bytes -1-5/10", contentRange{}, false},
		{"bytes 0-5/+10", contentRange{}, false},
		{"bytes 0-5", contentRange{}, false},
		{"items 0-5/10", contentRange{}, false},
		{"bytes 0 -5/10", contentRange{}, false},
		{"", contentRange{}, false},
	} {
		got, err := parseContentRange(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseContentRange(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
