package termui

import (
	"strings"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// BarStyle is how a progress bar is drawn.
type BarStyle int

const (
	// ASCII draws "[=====>----]": safe in any pipe, log or terminal.
	ASCII BarStyle = iota
	// Blocks draws "█████░░░░░" with Unicode block characters, for terminals.
	Blocks
)

// Bar draws a progress bar width columns wide showing done of total. A
// total <= 0 (size not known yet) draws an empty bar.
func Bar(style BarStyle, width int, done, total int64) string {
	var b strings.Builder
	filler := barFiller(style)
	stat := decor.Statistics{
		AvailableWidth: width,
		RequestedWidth: width,
		Total:          max(total, 0),
		Current:        min(max(done, 0), max(total, 0)),
	}
	stat.Completed = stat.Total > 0 && stat.Current == stat.Total
	// Fill only fails when the writer does; a strings.Builder never does.
	_ = filler.Fill(&b, stat)
	return b.String()
}

func barFiller(style BarStyle) mpb.BarFiller {
	if style == Blocks {
		return mpb.BarStyle().Lbound("").Rbound("").Filler("█").Tip("").Padding("░").Build()
	}
	return mpb.BarStyle().Build()
}
