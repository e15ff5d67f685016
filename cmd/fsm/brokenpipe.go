package main

import (
	"os"
	"os/signal"
	"syscall"
)

// survivePipes keeps fsm alive when its stdout or stderr is a pipe whose
// reader has gone (`fsm serve 2>&1 | head -1`, a closed `tee`): Go kills a
// program with SIGPIPE for a write to a broken fd 1 or 2 unless SIGPIPE is
// being notified, in which case the write fails with EPIPE instead. slog
// drops a failed log line, so a gone reader only loses the log.
//
// Notify, not Ignore: an ignored signal stays ignored across exec, and the
// mount helpers fsm starts (fusermount, gio) must keep the default.
func survivePipes() {
	// Nobody reads the channel: Notify never blocks on a full one, and one
	// slot is all it needs to count as notified.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}
