package vfs

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestCheckNameBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string // "" means accepted
	}{
		{strings.Repeat("a", 255), ""},
		{strings.Repeat("a", 256), "element longer than 255 bytes"},
		{strings.Repeat("a/", 63) + "a", ""},
		{strings.Repeat("a/", 64) + "a", "65 levels deep"},
		{strings.Repeat("a/", 32000) + "a", "longer than 4096 bytes"},
		{strings.Repeat(strings.Repeat("b", 200)+"/", 20) + "c", ""},
		{strings.Repeat(strings.Repeat("b", 250)+"/", 17) + "c", "longer than 4096 bytes"},
		{"zero\u200bwidth.txt", "U+200B"},
		{"\ufeffbom.txt", "U+FEFF"},
		{"line\u2028sep.txt", "U+2028"},
		{"para\u2029sep.txt", "U+2029"},
		{"word\u2060joiner", "U+2060"},
		{"x\u202etxt.exe", "bidirectional"},
		{"tab\there", "U+0009"},
		{"café/日本語.mkv", ""},
	} {
		err := CheckName(tc.name)
		short := tc.name
		if len(short) > 40 {
			short = short[:40] + "…"
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("CheckName(%q): a %d-byte error for a %d-byte name", short, len(err.Error()), len(tc.name))
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckName(%q) = %v, want accepted", short, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, fs.ErrInvalid)):
			t.Errorf("CheckName(%q) = %v, want an fs.ErrInvalid saying %q", short, err, tc.want)
		}
	}
}
