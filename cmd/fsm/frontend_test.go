package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"testing"

	"fsm/control"
	"fsm/store"
	"fsm/vfs"
)

// fakeFrontend records what the lifecycle asks of it in a shared journal.
type fakeFrontend struct {
	id       string
	journal  *journal
	startErr error
	drainErr error
	dir      string // the mount it offers once started; "" none
	started  bool
	inst     *instance // set by the test: stop notes whether the store is closing
}

// journal is the calls of every fake, in order.
type journal struct {
	mu    sync.Mutex
	calls []string // guarded by mu
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls = append(j.calls, s)
}

func (j *journal) all() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.calls)
}

func (f *fakeFrontend) name() string { return f.id }

func (f *fakeFrontend) start(ctx context.Context, fail func(error)) error {
	f.journal.add("start " + f.id)
	f.started = f.startErr == nil
	return f.startErr
}

func (f *fakeFrontend) mount() (control.Mount, bool) {
	if !f.started || f.dir == "" {
		return control.Mount{}, false
	}
	return control.Mount{Kind: control.MountFUSE, Dir: f.dir}, true
}

func (f *fakeFrontend) drain(ctx context.Context) error {
	f.journal.add("drain " + f.id)
	return f.drainErr
}

func (f *fakeFrontend) stop(ctx context.Context) error {
	if f.inst != nil && f.inst.closing != nil {
		f.journal.add("stop " + f.id + " (reads failed)")
	} else {
		f.journal.add("stop " + f.id)
	}
	return nil
}

func (f *fakeFrontend) abort() { f.journal.add("abort " + f.id) }

// newTestInstance is an instance over a real store in a temp dir with the
// given frontends and no HTTP server.
func newTestInstance(t *testing.T, fs []frontend) *instance {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := store.NewManager(store.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &instance{log: log, cfg: &settings{}, ln: ln, mgr: mgr, fsys: vfs.New(vfs.Options{Manager: mgr, Logger: log}), frontends: fs}
}

// Frontends start in list order and are drained, then stopped, in the
// reverse one; one that fails to start ends serve with its error, the ones
// after it never start, and shutdown still stops every frontend (stopping
// what never started does nothing by contract). A drain that times out
// has the store fail the reads still waiting before any frontend stops, so
// they get their answer before connections close; otherwise the store
// closes after the frontends.
func TestFrontendLifecycle(t *testing.T) {
	errMount := errors.New("cannot mount")
	tests := []struct {
		name     string
		startErr map[string]error
		drainErr map[string]error
		want     []string
	}{
		{"all up", nil, nil, []string{
			"start a", "start b", "start c",
			"drain c", "drain b", "drain a",
			"stop c", "stop b", "stop a",
		}},
		{"second fails to start", map[string]error{"b": errMount}, nil, []string{
			"start a", "start b",
			"drain a",
			"stop c", "stop b", "stop a",
		}},
		{"a drain times out", nil, map[string]error{"b": context.DeadlineExceeded}, []string{
			"start a", "start b", "start c",
			"drain c", "drain b", "drain a",
			"stop c (reads failed)", "stop b (reads failed)", "stop a (reads failed)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := &journal{}
			var fs []frontend
			for _, id := range []string{"a", "b", "c"} {
				fs = append(fs, &fakeFrontend{id: id, journal: j, startErr: tc.startErr[id], drainErr: tc.drainErr[id]})
			}
			s := newTestInstance(t, fs)
			for _, f := range fs {
				f.(*fakeFrontend).inst = s
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // serve returns at once once everything started
			err := s.serve(ctx, nil)
			if want := tc.startErr["b"]; !errors.Is(err, want) || (want == nil && err != nil) {
				t.Errorf("serve: %v, want %v", err, want)
			}
			s.shutdown()
			if got := j.all(); !slices.Equal(got, tc.want) {
				t.Errorf("calls\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// A second signal aborts every frontend, in start order (the FUSE detach,
// which never waits, before the desktop unmount, which may).
func TestFrontendAbort(t *testing.T) {
	j := &journal{}
	fs := []frontend{&fakeFrontend{id: "a", journal: j}, &fakeFrontend{id: "b", journal: j}}
	s := newTestInstance(t, fs)
	s.abort(os.Interrupt)
	if got, want := j.all(), []string{"abort a", "abort b"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	s.shutdown() // removes the store's run folder
}

// The API's mounts are those the frontends offer now, in list order.
func TestFrontendMounts(t *testing.T) {
	j := &journal{}
	fs := []frontend{
		&fakeFrontend{id: "fuse", journal: j, dir: "/mnt/f"},
		&fakeFrontend{id: "webdav", journal: j},
		&fakeFrontend{id: "desktop", journal: j, dir: "/run/gvfs/x"},
	}
	s := newTestInstance(t, fs)
	if m := s.mounts(); len(m) != 0 {
		t.Errorf("before start: %+v", m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.serve(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got := s.mounts()
	if len(got) != 2 || got[0].Dir != "/mnt/f" || got[1].Dir != "/run/gvfs/x" {
		t.Errorf("mounts %+v, want /mnt/f then /run/gvfs/x", got)
	}
	s.shutdown()
}
