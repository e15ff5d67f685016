package safetext

import "testing"

func TestLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"503 Service Unavailable", "503 Service Unavailable"},
		{"café 日本語 \uFFFD", "café 日本語 \uFFFD"},
		{"200 OK\x1b]0;pwned\x07", `200 OK\x1b]0;pwned\a`},
		{"bad\x1b[2J\x1b[Hclear", `bad\x1b[2J\x1b[Hclear`},
		{"two\r\nlines", `two\r\nlines`},
		{"csi\u009b31m", `csi\u009b31m`},
		{"x\u202etxt.exe", `x\u202etxt.exe`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"line\u2028sep", `line\u2028sep`},
		{"del\x7f", `del\x7f`},
		{"raw\xff\xfebytes", `raw\xff\xfebytes`},
	} {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()
	if got := Limit("short", 10); got != "short" {
		t.Errorf("Limit(short) = %q", got)
	}
	if got := Limit("日本語日本語", 7); got != "日本…" {
		t.Errorf("Limit cuts inside a rune: %q", got)
	}
	if got := Limit("\x1b\x1b\x1b", 8); got != `\x1b\x1b…` {
		t.Errorf("Limit counts the escaped form: %q", got)
	}
}
