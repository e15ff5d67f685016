// Package safetext makes text that an origin or a server chose safe to show
// on a terminal: one line, with no byte that a terminal would act on.
package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line returns s with every control character (C0, DEL, C1: ESC and CSI
// start terminal escape sequences, CR and BS overwrite what was printed),
// every invisible format or line-separator character, and every invalid
// UTF-8 byte written as a Go escape (\x1b, \u202e), so it prints as one
// line that shows exactly what was sent. Plain text comes back unchanged.
func Line(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !validAt(s, i):
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i]), 16))
		case Unsafe(r):
			q := strconv.QuoteRuneToASCII(r) // 'ESC' -> '\x1b'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Limit is Line cut to at most n bytes (marked with "…"), for one-line
// reasons that come from elsewhere, such as an origin's status line.
func Limit(s string, n int) string { return Cut(Line(s), n) }

// Cut returns s cut to at most n bytes at a character boundary, marked
// with "…" where it was cut.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func clean(s string) bool {
	for i, r := range s {
		if Unsafe(r) || (r == utf8.RuneError && !validAt(s, i)) {
			return false
		}
	}
	return true
}

// Unsafe reports whether r acts on a terminal or hides itself in text: a
// control character (C0, DEL, C1), an invisible format character (Cf:
// zero-width characters, the BOM, bidirectional controls) or a line or
// paragraph separator (U+2028, U+2029).
func Unsafe(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.In(r, unicode.Zl, unicode.Zp)
}

// validAt reports whether the U+FFFD at s[i] was really sent as one.
func validAt(s string, i int) bool {
	r, size := utf8.DecodeRuneInString(s[i:])
	return r == utf8.RuneError && size == 3
}
