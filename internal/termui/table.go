// Package termui renders fsm's command-line views: aligned tables, progress
// bars and a screen region redrawn in place on a terminal. Everything it
// writes to a non-terminal is plain text without escape sequences.
package termui

import (
	"strings"

	"github.com/mattn/go-runewidth"
)

// Align is a column's alignment.
type Align int

const (
	Left Align = iota
	Right
)

// Column is a table column: its heading and alignment.
type Column struct {
	Head  string
	Align Align
}

// Row is one table row. Note and then each of Notes, when set, are printed
// on their own indented lines under the row, outside the columns (an error
// message or a path that is too long to fit a column).
type Row struct {
	Cells []string
	Note  string
	Notes []string
}

// Table lays out rows under cols, each column as wide as its widest cell
// (display width, so wide and combining characters align), two spaces
// between columns and no trailing blanks. It returns one string per line.
func Table(cols []Column, rows []Row) []string {
	widths := Widths(cols, rows)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.Head
	}
	lines := []string{layout(cols, widths, head)}
	for _, r := range rows {
		lines = append(lines, layout(cols, widths, r.Cells))
		if r.Note != "" {
			lines = append(lines, "  "+r.Note)
		}
		for _, n := range r.Notes {
			lines = append(lines, "  "+n)
		}
	}
	return lines
}

// Widths are the widths Table gives cols: each column's widest cell or
// heading, in display columns.
func Widths(cols []Column, rows []Row) []int {
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = runewidth.StringWidth(c.Head)
	}
	for _, r := range rows {
		for i, cell := range r.Cells {
			if i < len(widths) {
				widths[i] = max(widths[i], runewidth.StringWidth(cell))
			}
		}
	}
	return widths
}

func layout(cols []Column, widths []int, cells []string) string {
	var b strings.Builder
	for i, c := range cols {
		cell := ""
		if i < len(cells) {
			cell = cells[i]
		}
		if i > 0 {
			b.WriteString("  ")
		}
		pad := strings.Repeat(" ", widths[i]-runewidth.StringWidth(cell))
		if c.Align == Right {
			b.WriteString(pad + cell)
		} else {
			b.WriteString(cell + pad)
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// Truncate cuts s to at most width display columns, ending in "…" when cut.
func Truncate(s string, width int) string {
	return runewidth.Truncate(s, width, "…")
}
