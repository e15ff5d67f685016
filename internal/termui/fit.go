package termui

import (
	"os"

	"github.com/mattn/go-runewidth"
	"github.com/vbauerster/mpb/v8/cwriter"
)

// Middle shortens s to at most width display columns by cutting its
// middle: a long file name keeps its folder's start and its extension
// ("films/summer…day one.mp4"), which tell names apart better than the
// start alone.
func Middle(s string, width int) string {
	if runewidth.StringWidth(s) <= width {
		return s
	}
	if width <= 1 {
		return Truncate(s, width)
	}
	runes := []rune(s)
	tail := (width - 1) / 2 // the start gets the odd column
	head := width - 1 - tail
	var b, e int // runes taken from the start and the end
	for w := 0; b < len(runes); b++ {
		rw := runewidth.RuneWidth(runes[b])
		if w+rw > head {
			break
		}
		w += rw
	}
	for w := 0; e < len(runes)-b; e++ {
		rw := runewidth.RuneWidth(runes[len(runes)-1-e])
		if w+rw > tail {
			break
		}
		w += rw
	}
	return string(runes[:b]) + "…" + string(runes[len(runes)-e:])
}

// Width returns the display width of s.
func Width(s string) int {
	return runewidth.StringWidth(s)
}

// TermWidth is the width in columns of the terminal f is, or 0 when f is
// not a terminal (output then has no width to fit).
func TermWidth(f *os.File) int {
	if !IsTerminal(f) {
		return 0
	}
	w, _, err := cwriter.New(f).GetTermSize()
	if err != nil || w <= 0 {
		return 80
	}
	return w
}
