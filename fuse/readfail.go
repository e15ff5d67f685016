package fuse

// readFailure says why a read answered EIO.
type readFailure int

const (
	failStore   readFailure = iota // the store gave up (origin error, closed)
	failUnmount                    // the mount is going away
	failTimeout                    // the bytes did not arrive in time
	failRetry                      // the kernel retried a range that just timed out
)
