// Package termui renders fsm's command-line views: aligned tables, progress
// bars and a screen region redrawn in place on a terminal. Everything it
// writes to a non-terminal is plain text without escape sequences.
package termui

import (
	"strings"

	"github.com/mattn/go-runewidth"

	"fsm/internal/safetext"
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
//
// Cells and notes are written through safetext.Line: a note is often an
// error whose text an origin chose (a redirect's host, a reason phrase),
// and a terminal must never receive an escape sequence or a line break
// from it, whatever the server did or did not clean.
func Table(cols []Column, rows []Row) []string {
	rows = safeRows(rows)
	widths := widthsOf(cols, rows)
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
// heading, in display columns, as Table prints them (made safe).
func Widths(cols []Column, rows []Row) []int {
	return widthsOf(cols, safeRows(rows))
}

func widthsOf(cols []Column, rows []Row) []int {
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

// safeRows returns rows with every cell and note made safe for a terminal;
// rows themselves are left as the caller gave them.
func safeRows(rows []Row) []Row {
	out := make([]Row, len(rows))
	for i, r := range rows {
		cells := make([]string, len(r.Cells))
		for j, c := range r.Cells {
			cells[j] = safetext.Line(c)
		}
		var notes []string
		for _, n := range r.Notes {
			notes = append(notes, safetext.Line(n))
		}
		out[i] = Row{Cells: cells, Note: safetext.Line(r.Note), Notes: notes}
	}
	return out
}
