package awake

import (
	"sync"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"
)

// fdCatcher closes every descriptor a bus connection receives that hold
// does not keep. Without it, an Inhibit answer that arrives just after its
// call gave up (holdTimeout) would leave its descriptor open in fsm, and
// with it a lock that nothing ever releases: godbus drops the answer to a
// call that gave up without closing what came with it. (A message that is
// half read when the connection closes can still lose its descriptors
// inside godbus; that is why the keeper never cancels a call early.)
type fdCatcher struct {
	mu sync.Mutex
	// mu protects the following fields.
	fds      []int // received and not yet kept or closed
	finished bool  // hold has taken its descriptor; close later ones at once
}

// intercept is the connection's incoming interceptor: it runs for each
// message before godbus hands the message to its call.
func (c *fdCatcher) intercept(msg *dbus.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range msg.Body {
		switch v := v.(type) {
		case dbus.UnixFD:
			c.addLocked(int(v))
		case []dbus.UnixFD:
			for _, fd := range v {
				c.addLocked(int(fd))
			}
		}
	}
}

func (c *fdCatcher) addLocked(fd int) {
	if c.finished {
		unix.Close(fd)
		return
	}
	c.fds = append(c.fds, fd)
}

// finish closes every descriptor received so far except keep (-1 keeps
// none), and every one that arrives later.
func (c *fdCatcher) finish(keep int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finished = true
	for _, fd := range c.fds {
		if fd != keep {
			unix.Close(fd)
		}
	}
	c.fds = nil
}
