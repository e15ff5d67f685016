// Package httpnum parses the numbers of HTTP header fields: byte offsets,
// lengths and seconds, written as 1*DIGIT (RFC 9110). strconv alone would
// also take a sign, which none of these fields allows.
package httpnum

import "strconv"

// Digits parses a non-empty run of ASCII digits that fits an int64.
func Digits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false // too large for an int64
	}
	return n, true
}
