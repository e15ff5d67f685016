package control

import (
	"bytes"
	"log/slog"
	"sync"
	"time"

	"fsm/control/api"
	"fsm/vfs"
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
	// awake is the keep-awake state at this tick and awakeFrame its
	// event; nil when the hub has no awake source.
	awake      api.KeepAwake
	awakeFrame []byte
	// actions are the after-read actions still kept at this tick, oldest
	// first, and actionSeq the latest one's Seq: a stream sends those
	// after its own snapshot's actionSeq, so each action taken while it
	// is open reaches it once.
	actions   []vfs.Action
	actionSeq uint64
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
	// awake reports the keep-awake state (nil: no keep_awake events) and
	// actions the after-read actions after a Seq (nil: none); both are set
	// before the first stream subscribes and never change.
	awake   func() api.KeepAwake
	actions func(after uint64) ([]vfs.Action, uint64)

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
	next.awake, next.awakeFrame = prev.awake, prev.awakeFrame
	if h.awake != nil {
		if ka := h.awake(); ka != prev.awake || prev.awakeFrame == nil {
			if frame, err := encodeEvent("keep_awake", ka); err != nil {
				h.log.Error("events: cannot send keep_awake", "err", err)
			} else {
				next.awake, next.awakeFrame = ka, frame
				delta.Write(frame)
			}
		}
	}
	next.actions, next.actionSeq = prev.actions, prev.actionSeq
	if h.actions != nil {
		if fresh, last := h.actions(prev.actionSeq); last != prev.actionSeq {
			next.actions, next.actionSeq = h.keptActions(prev.actions, fresh), last
			delta.Write(actionFrames(fresh))
		}
	}
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
	if !bytes.Equal(from.awakeFrame, to.awakeFrame) {
		b.Write(to.awakeFrame)
	}
	var missed []vfs.Action
	for _, a := range to.actions {
		if a.Seq > from.actionSeq {
			missed = append(missed, a)
		}
	}
	b.Write(actionFrames(missed))
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
	n := len(s.awakeFrame)
	for _, f := range s.order {
		n += len(f.frame)
	}
	b := make([]byte, 0, n)
	b = append(b, s.awakeFrame...)
	for _, f := range s.order {
		b = append(b, f.frame...)
	}
	return b
}

// keptActions is kept with fresh added, at most as many as the tree keeps.
func (h *eventHub) keptActions(kept, fresh []vfs.Action) []vfs.Action {
	out := append(append([]vfs.Action(nil), kept...), fresh...)
	if len(out) > maxActions {
		out = out[len(out)-maxActions:]
	}
	return out
}

// maxActions bounds the actions a snapshot keeps for streams that fell
// behind; the tree keeps as many.
const maxActions = 64

// actionFrames are the after_read events of acts.
func actionFrames(acts []vfs.Action) []byte {
	var b []byte
	for _, a := range acts {
		frame, err := encodeEvent("after_read", api.AfterReadDone{Name: a.Name, Action: string(a.Did), Bytes: a.Bytes})
		if err != nil {
			panic("encode after_read event: " + err.Error()) // strings and a number
		}
		b = append(b, frame...)
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
