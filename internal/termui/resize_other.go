//go:build !unix

package termui

import "os"

// NotifyResize relays the terminal's size changes to ch until stop is
// called. Windows consoles send no signal on a resize: a watch picks the
// new width up at its next redraw.
func NotifyResize(ch chan<- os.Signal) (stop func()) {
	return func() {}
}
