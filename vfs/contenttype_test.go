package vfs

import "testing"

func TestContentType(t *testing.T) {
	for _, tc := range []struct{ name, origin, want string }{
		{"movie.mp4", "text/html", "video/mp4"}, // the extension decides
		{"notes", "text/plain; charset=UTF-8", "text/plain; charset=UTF-8"},
		{"clip", "VIDEO/MP4", "video/mp4"},
		{"page", "text/html; charset=utf-8", "application/octet-stream"},
		// Lists: browsers take the last type, so none of them is passed on.
		{"evil", "text/plain, text/html", "application/octet-stream"},
		{"evil", "image/png, image/svg+xml", "application/octet-stream"},
		{"evil", "x/x, text/xml", "application/octet-stream"},
		{"evil", "text/plain; charset=utf-8, text/html", "application/octet-stream"},
		{"evil", "text/plain;;charset=x", "application/octet-stream"},
		{"evil", "text", "application/octet-stream"},
		{"blank", "", "application/octet-stream"},
	} {
		if got := contentType(tc.name, tc.origin); got != tc.want {
			t.Errorf("contentType(%q, %q) = %q, want %q", tc.name, tc.origin, got, tc.want)
		}
	}
}
