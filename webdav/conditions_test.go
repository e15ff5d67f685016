package webdav

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	cases := []struct {
		header string
		size   int64
		off, n int64
		kind   rangeKind
	}{
		{"", size, 0, size, rangeWhole},
		{"bytes=0-0", size, 0, 1, rangePart},
		{"bytes=10-19", size, 10, 10, rangePart},
		{"bytes = 10 - 19", size, 10, 10, rangePart},
		{"Bytes=10-", size, 10, 990, rangePart},
		{"bytes=990-5000", size, 990, 10, rangePart},
		{"bytes=-10", size, 990, 10, rangePart},
		{"bytes=-5000", size, 0, size, rangePart},
		{"bytes=,,5-6", size, 5, 2, rangePart},
		{"bytes=0-9,20-29", size, 0, 10, rangePart},
		{"bytes=2000-,-0,20-29", size, 20, 10, rangePart},
		{"bytes=-0", size, 0, 0, rangeUnsatisfiable},
		{"bytes=1000-", size, 0, 0, rangeUnsatisfiable},
		{"bytes=1000-2000,-0", size, 0, 0, rangeUnsatisfiable},
		{"bytes=-1", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=0-", 0, 0, 0, rangeUnsatisfiable},
		{"items=0-5", size, 0, size, rangeWhole},
		{"bytes", size, 0, size, rangeWhole},
		{"bytes=", size, 0, size, rangeWhole},
		{"bytes=5-2", size, 0, size, rangeWhole},
		{"bytes=0-9,5-2", size, 0, size, rangeWhole},
		{"bytes=x-", size, 0, size, rangeWhole},
		{"bytes=-x", size, 0, size, rangeWhole},
		{"bytes=--5", size, 0, size, rangeWhole},
		{"bytes=+5-6", size, 0, size, rangeWhole},
		{"bytes=5", size, 0, size, rangeWhole},
		{"bytes=99999999999999999999-", size, 0, size, rangeWhole},
	}
	for _, c := range cases {
		off, n, kind := parseRange(c.header, c.size)
		if kind != c.kind || (kind != rangeUnsatisfiable && (off != c.off || n != c.n)) {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v; want %d, %d, %v", c.header, c.size, off, n, kind, c.off, c.n, c.kind)
		}
	}
}

func TestPreconditions(t *testing.T) {
	const etag = `"abc"`
	mod := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) string { return mod.Add(d).Format(http.TimeFormat) }
	cases := []struct {
		hdr  map[string]string
		want verdict
	}{
		{nil, proceed},
		{map[string]string{"If-Match": etag}, proceed},
		{map[string]string{"If-Match": `"x", "abc"`}, proceed},
		{map[string]string{"If-Match": "*"}, proceed},
		{map[string]string{"If-Match": `W/"abc"`}, preconditionFailed}, // strong comparison
		{map[string]string{"If-Match": `"x"`}, preconditionFailed},
		{map[string]string{"If-Match": `abc`}, preconditionFailed},
		{map[string]string{"If-Unmodified-Since": at(0)}, proceed},
		{map[string]string{"If-Unmodified-Since": at(-time.Second)}, preconditionFailed},
		{map[string]string{"If-Unmodified-Since": "garbage"}, proceed},
		// If-Match wins over If-Unmodified-Since.
		{map[string]string{"If-Match": etag, "If-Unmodified-Since": at(-time.Hour)}, proceed},
		{map[string]string{"If-None-Match": etag}, notModified},
		{map[string]string{"If-None-Match": `W/"abc"`}, notModified}, // weak comparison
		{map[string]string{"If-None-Match": "*"}, notModified},
		{map[string]string{"If-None-Match": `"x"`}, proceed},
		{map[string]string{"If-Modified-Since": at(0)}, notModified},
		{map[string]string{"If-Modified-Since": at(-time.Second)}, proceed},
		// If-None-Match wins over If-Modified-Since.
		{map[string]string{"If-None-Match": `"x"`, "If-Modified-Since": at(time.Hour)}, proceed},
		{map[string]string{"If-Match": `"x"`, "If-None-Match": etag}, preconditionFailed},
	}
	for _, c := range cases {
		h := http.Header{}
		for k, v := range c.hdr {
			h.Set(k, v)
		}
		if got := preconditions(h, etag, mod); got != c.want {
			t.Errorf("preconditions(%v) = %v, want %v", c.hdr, got, c.want)
		}
	}
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"", true}, {etag, true}, {`W/"abc"`, false}, {`"x"`, false},
		{at(0), true}, {at(time.Second), false}, {"garbage", false},
	} {
		h := http.Header{}
		if c.v != "" {
			h.Set("If-Range", c.v)
		}
		if got := ifRangeHolds(h, etag, mod); got != c.want {
			t.Errorf("ifRangeHolds(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}
