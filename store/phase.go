package store

// phase is where a store is in its life. Transitions (all under Store.mu):
//
//	idle -> filling      a read asks for content (waitFor)
//	filling -> stalled   a fetch gave up after its retries (run)
//	stalled -> filling   the next read asks again (waitFor)
//	idle|filling|stalled -> evicting -> idle|filling   evict drops the bytes;
//	                     it ends filling if reads arrived meanwhile
//	any but closed -> failed   the origin's file changed, or the temp file broke
//	any -> closed        Close
//
// Reads that wait get demand fetches in every phase but evicting, failed
// and closed; only filling also runs readahead and the background fill.
type phase int

const (
	phaseIdle     phase = iota // nothing asked yet, or evicted
	phaseFilling               // readahead and background fill run
	phaseStalled               // gave up after retries: no background fill until the next read
	phaseEvicting              // downloaded bytes are being dropped: nothing starts
	phaseFailed                // permanent: every read fails with Store.permErr
	phaseClosed
)

func (p phase) String() string {
	return [...]string{"idle", "filling", "stalled", "evicting", "failed", "closed"}[p]
}

// reservation is how far preallocation got for the current download.
type reservation int

const (
	resNone   reservation = iota // not tried: the next fetch tries
	resTrying                    // running, failed or unsupported: not tried again until eviction
	resHeld                      // the whole file's blocks are reserved (charged as Size)
	// resRanges: the whole file did not fit, so each fetch reserves the
	// range it is about to write (disk.go) and fails with ErrNoSpace where
	// that does not fit either; tried whole again after an eviction.
	resRanges
)
