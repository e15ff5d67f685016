package termui

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vbauerster/mpb/v8/cwriter"
)

// Screen is a block of lines at the bottom of a terminal that each Draw
// replaces in place. Lines are cut to the terminal's width and the block to
// its height, since a wrapped or scrolled-off line could not be erased.
// Screen is not safe for concurrent use.
type Screen struct {
	w *cwriter.Writer
}

// NewScreen returns a Screen on out, or ok false when out is not a terminal
// (the caller then prints plain text instead).
func NewScreen(out io.Writer) (s *Screen, ok bool) {
	w := cwriter.New(out)
	if !w.IsTerminal() {
		return nil, false
	}
	return &Screen{w: w}, true
}

// Width is the terminal's width in columns (80 if it cannot be read): a
// watch fits each frame to it.
func (s *Screen) Width() int {
	w, _, err := s.w.GetTermSize()
	if err != nil || w <= 0 {
		return 80
	}
	return w
}

// Draw replaces the previous block with lines.
func (s *Screen) Draw(lines []string) error {
	width, height, err := s.w.GetTermSize()
	if err != nil || width <= 0 {
		width, height = 80, 24
	}
	// One row stays free for the cursor under the block.
	if limit := max(height-1, 1); len(lines) > limit {
		more := len(lines) - limit + 1
		lines = append(lines[:limit-1:limit-1], fmt.Sprintf("… %d more lines (widen or heighten the terminal)", more))
	}
	for _, l := range lines {
		// The last column stays free: some terminals wrap a line that fills it.
		s.w.WriteString(Truncate(strings.TrimRight(l, " "), width-1) + "\n")
	}
	// Flush writes the block and leaves, in its buffer, the escape that
	// moves back over it: the next Draw erases it, and the last one stays.
	if err := s.w.Flush(len(lines)); err != nil {
		return fmt.Errorf("draw on terminal: %w", err)
	}
	return nil
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	return cwriter.IsTerminal(int(f.Fd()))
}
