//go:build unix

package termui

import (
	"os"
	"os/signal"
	"syscall"
)

// NotifyResize relays the terminal's size changes (SIGWINCH) to ch until
// stop is called.
func NotifyResize(ch chan<- os.Signal) (stop func()) {
	signal.Notify(ch, syscall.SIGWINCH)
	return func() { signal.Stop(ch) }
}
