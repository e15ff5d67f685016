package vfs

import (
	"context"
	"sync"
)

// StagingConcurrency bounds the probes the staging queue runs at once, so
// a long list of sources, or a folder of thousands of files, neither floods
// one origin nor delays the first files.
const StagingConcurrency = 4

// queue runs staging jobs in the order given, at most StagingConcurrency at
// once. It is the FS's one staging queue: sources given at start (Queue) and
// the files of every folder share it. A queued job costs its closure, not a
// goroutine.
type queue struct {
	mu      sync.Mutex
	jobs    []func()      // waiting, oldest first; guarded by mu
	running int           // workers running; guarded by mu
	idle    chan struct{} // closed when the queue drains; nil while idle. Guarded by mu
}

// push queues job. A worker is started when fewer than StagingConcurrency
// run; a running worker takes the next job when it is done with one.
func (q *queue) push(job func()) {
	q.mu.Lock()
	q.jobs = append(q.jobs, job)
	if q.idle == nil {
		q.idle = make(chan struct{})
	}
	start := q.running < StagingConcurrency
	if start {
		q.running++
	}
	q.mu.Unlock()
	if start {
		go q.work()
	}
}

func (q *queue) work() {
	for {
		q.mu.Lock()
		if len(q.jobs) == 0 {
			q.running--
			q.jobs = nil // let a drained backlog's array go
			if q.running == 0 && q.idle != nil {
				close(q.idle)
				q.idle = nil
			}
			q.mu.Unlock()
			return
		}
		job := q.jobs[0]
		q.jobs[0] = nil
		q.jobs = q.jobs[1:]
		q.mu.Unlock()
		job()
	}
}

// Queue runs jobs in the background through the staging queue, in their
// order and behind whatever is queued already (a folder's files, say), while
// the caller goes on. Each job gets ctx. The returned channel closes when
// every job has ended, or, once ctx ends, when none of jobs is running: the
// ones still queued then end without running when their turn comes.
//
// Jobs start in the order given, so a job may wait for an earlier one of
// its batch (serve's first-SOURCE-wins turns do): that one is running or
// done by then, whatever the concurrency.
func (f *FS) Queue(ctx context.Context, jobs []func(context.Context)) <-chan struct{} {
	b := &batch{ctx: ctx, left: len(jobs), done: make(chan struct{})}
	b.mu.Lock()
	b.settleLocked()
	b.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.settleLocked()
		b.mu.Unlock()
	})
	go func() { <-b.done; stop() }()
	for _, job := range jobs {
		f.queue.push(func() {
			if !b.start() {
				return
			}
			defer b.end()
			job(ctx)
		})
	}
	return b.done
}

// batch is one Queue call's account of its jobs.
type batch struct {
	ctx     context.Context
	done    chan struct{}
	mu      sync.Mutex
	left    int  // jobs not ended; guarded by mu
	running int  // jobs under way; guarded by mu
	closed  bool // done is closed; guarded by mu
}

// start begins one job, or ends it at once when ctx has ended.
func (b *batch) start() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx.Err() != nil {
		b.left--
		b.settleLocked()
		return false
	}
	b.running++
	return true
}

func (b *batch) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running--
	b.left--
	b.settleLocked()
}

// settleLocked closes done when every job has ended, or when ctx has and
// none runs.
func (b *batch) settleLocked() {
	if !b.closed && (b.left == 0 || (b.ctx.Err() != nil && b.running == 0)) {
		b.closed = true
		close(b.done)
	}
}

// WaitQueue returns once the staging queue has nothing queued or running
// (every folder's files staged or failed), or with ctx's error.
func (f *FS) WaitQueue(ctx context.Context) error {
	f.queue.mu.Lock()
	idle := f.queue.idle
	f.queue.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
