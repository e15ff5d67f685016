package control

import (
	"bytes"
	"log/slog"
	"sync"
	"time"

	"fsm/control/api"
)

// fileFrame is one file's object as sampled at some tick, with its event
// encoded once for every stream that sends it. A file that did not change
// keeps the same *fileFrame from snapshot to snapshot, so comparing
// pointers tells whether a stream has sent it.
type fileFrame struct {
	name   string
	sample sample
	frame  []byte // "event: file\ndata: {...}\n\n"
}

// snapshot is the tree as one tick saw it. It is never changed once
// published; streams read it without a lock.
type snapshot struct {
	gen     uint64
	prevGen uint64 // the snapshot delta is relative to
	order   []*fileFrame
	byName  map[string]*fileFrame
	// delta is what changed since the snapshot prevGen, encoded: a file
	// event per changed or new file, then a removed event per file gone.
	delta []byte
	// next is closed when a newer snapshot replaces this one: streams wait
	// on it instead of ticking on their own.
	next chan struct{}
}

// eventHub samples the tree for every events stream at once: one producer
// ticks while any stream is open, compares each file with the last
// snapshot, encodes only what changed, and publishes a new snapshot only
// when something did. An idle tree costs one walk per tick, however many
// streams are open, and wakes none of them.
type eventHub struct {
	tick   time.Duration
	sample func() ([]api.File, string) // the tree's objects now, and their mountsKey
	log    *slog.Logger

	refreshMu sync.Mutex // serializes refresh: one sampler at a time

	mu      sync.Mutex    // guards the fields below
	cur     *snapshot     // the newest snapshot; never nil
	streams int           // open streams
	stop    chan struct{} // closed to end the running producer; nil when none runs
	fresh   chan struct{} // closed once the running producer sampled the tree
}

func newEventHub(tick time.Duration, sample func() ([]api.File, string), log *slog.Logger) *eventHub {
	return &eventHub{
		tick: tick, sample: sample, log: log,
		cur: &snapshot{byName: map[string]*fileFrame{}, next: make(chan struct{})},
	}
}

// subscribe registers a stream and returns the snapshot it starts from.
// The first stream starts the producer, whose first sampling is at once:
// the snapshot left from earlier streams may be old, and no stream starts
// from it. Later streams start from the last tick's, so connecting streams
// add no samplings (nor events more often than one a tick per file to the
// streams already open).
func (h *eventHub) subscribe() *snapshot {
	h.mu.Lock()
	h.streams++
	if h.stop == nil {
		h.stop, h.fresh = make(chan struct{}), make(chan struct{})
		go h.run(h.stop, h.fresh)
	}
	fresh := h.fresh
	h.mu.Unlock()
	<-fresh // one walk of the tree in memory: no ctx needed
	return h.current()
}

// unsubscribe ends a stream's registration; the last one stops the
// producer.
func (h *eventHub) unsubscribe() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams--
	if h.streams == 0 {
		close(h.stop)
		h.stop = nil
	}
}

func (h *eventHub) current() *snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur
}

// run samples the tree at once, closes fresh, then samples every tick
// until stop is closed.
func (h *eventHub) run(stop <-chan struct{}, fresh chan<- struct{}) {
	h.refresh()
	close(fresh)
	t := time.NewTicker(h.tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			h.refresh()
		}
	}
}

// refresh samples the tree and publishes a snapshot when anything changed.
func (h *eventHub) refresh() {
	h.refreshMu.Lock()
	defer h.refreshMu.Unlock()
	prev := h.current() // only refresh replaces it, and refreshMu is held
	objs, key := h.sample()
	next := &snapshot{
		gen: prev.gen + 1, prevGen: prev.gen,
		order:  make([]*fileFrame, 0, len(objs)),
		byName: make(map[string]*fileFrame, len(objs)),
		next:   make(chan struct{}),
	}
	var delta bytes.Buffer
	for _, o := range objs {
		smp := sampleOf(o, key)
		f := prev.byName[o.Name]
		if f == nil || f.sample != smp {
			frame, err := encodeEvent("file", o)
			switch {
			case err != nil && f == nil:
				// Left out of this snapshot, so the next tick tries again.
				h.log.Error("events: cannot send a file's object", "name", o.Name, "err", err)
				continue
			case err != nil:
				// Its last object stays, with its old sample: the next
				// tick tries again.
				h.log.Error("events: cannot send a file's object", "name", o.Name, "err", err)
			default:
				f = &fileFrame{name: o.Name, sample: smp, frame: frame}
				delta.Write(frame)
			}
		}
		next.order = append(next.order, f)
		next.byName[o.Name] = f
	}
	for _, f := range prev.order {
		if _, ok := next.byName[f.name]; !ok {
			delta.Write(removedFrame(f.name))
		}
	}
	if delta.Len() == 0 {
		return // nothing changed: no stream wakes
	}
	next.delta = delta.Bytes()
	h.mu.Lock()
	h.cur = next
	h.mu.Unlock()
	close(prev.next)
}

// changes returns what a stream that sent from snapshot "from" must send
// to be at "to": the shared delta when to follows from at once, else the
// difference of the two (a stream that was still writing missed snapshots
// between them).
func changes(from, to *snapshot) []byte {
	if to.prevGen == from.gen {
		return to.delta
	}
	var b bytes.Buffer
	for _, f := range to.order {
		if from.byName[f.name] != f {
			b.Write(f.frame)
		}
	}
	for _, f := range from.order {
		if _, ok := to.byName[f.name]; !ok {
			b.Write(removedFrame(f.name))
		}
	}
	return b.Bytes()
}

// full returns every file's event of s, for a stream that just connected.
func (s *snapshot) full() []byte {
	n := 0
	for _, f := range s.order {
		n += len(f.frame)
	}
	b := make([]byte, 0, n)
	for _, f := range s.order {
		b = append(b, f.frame...)
	}
	return b
}

func removedFrame(name string) []byte {
	b, err := encodeEvent("removed", api.Removed{Name: name})
	if err != nil {
		panic("encode removed event: " + err.Error()) // a struct of one string
	}
	return b
}
