package vfs

import "sync"

// unstageHooks are the functions OnUnstage registered.
type unstageHooks struct {
	mu   sync.Mutex // guards fns and next
	fns  map[int]func(*File)
	next int
}

// OnUnstage registers fn to be called with each file Unstage removes from
// the tree, after it is gone from the tree and before Unstage returns, so
// that a frontend can let go of the name before it can be staged again
// (the FUSE mount gives the kernel a new node for it). fn runs without any
// of the FS's locks held and may call its methods. The returned function
// removes fn.
func (f *FS) OnUnstage(fn func(*File)) (remove func()) {
	h := &f.unstageHooks
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fns == nil {
		h.fns = make(map[int]func(*File))
	}
	id := h.next
	h.next++
	h.fns[id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.fns, id)
	}
}

func (h *unstageHooks) run(file *File) {
	h.mu.Lock()
	fns := make([]func(*File), 0, len(h.fns))
	for _, fn := range h.fns {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(file)
	}
}
