package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://h/p/f.iso", "https://h/p/f.iso"},
		{"https://h/f?X-Amz-Signature=secret&X-Amz-Credential=k", "https://h/f?…"},
		{"https://user:pw@h/f", "https://h/f"},
		{"https://h/f#frag", "https://h/f"},
		{"http://[::1", "(unparsable URL)"},
	}
	for _, tc := range tests {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got, want := Bare(tc.in), strings.TrimSuffix(tc.want, "?…"); got != want {
			t.Errorf("Bare(%q) = %q, want %q", tc.in, got, want)
		}
	}
}
