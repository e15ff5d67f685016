package control_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fsm/control"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/vfs"
)

// TestEventsSampledOncePerTick: many open streams share one sampling of
// the tree per tick. Every sampling asks for the mounts once, so over a
// window of T, at most about T/Tick calls may happen (a ticker drops ticks, it
// never adds any); streams sampling on their own would make streams times
// as many.
func TestEventsSampledOncePerTick(t *testing.T) {
	const tick, streams, window = 5 * time.Millisecond, 8, 100
	var calls atomic.Int64
	e := newEnv(t, control.Options{Tick: tick, Mounts: func() []control.Mount {
		calls.Add(1)
		return nil
	}})
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 4, Size: 1 << 10}})
	if _, err := e.fsys.Stage(context.Background(), vfs.Request{URL: o.URL(), Name: "idle.bin"}); err != nil {
		t.Fatal(err)
	}
	for range streams {
		ev := openEvents(t, e)
		if kind, data := ev.next(t); kind != "file" || !strings.Contains(data, `"idle.bin"`) {
			t.Fatalf("first event %s %s, want idle.bin's object", kind, data)
		}
	}
	start, from := time.Now(), calls.Load()
	fsmtest.Eventually(t, "samplings", func() bool { return calls.Load()-from >= window })
	n, elapsed := calls.Load()-from, time.Since(start)
	// +2: a tick may wait in the ticker's channel from before the window,
	// and one sampling may be under way when it ends.
	if limit := int64(elapsed/tick) + 2; n > limit {
		t.Errorf("%d samplings in %v with %d streams open: more than one per %v tick (%d)", n, elapsed, streams, tick, limit)
	}
}

// TestEventsLateStreamGetsFullState: a stream that connects while another
// is open gets every file first, and both get the same change after.
func TestEventsLateStreamGetsFullState(t *testing.T) {
	e := newEnv(t, control.Options{})
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 5, Size: 1 << 10}})
	stage := func(name string) {
		t.Helper()
		if _, err := e.fsys.Stage(context.Background(), vfs.Request{URL: o.URL(), Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	stage("a.bin")
	early := openEvents(t, e)
	early.want(t, "file", `"a.bin"`)
	stage("b.bin")
	early.want(t, "file", `"b.bin"`)
	late := openEvents(t, e)
	got := map[string]bool{}
	for range 2 {
		kind, data := late.next(t)
		for _, n := range []string{"a.bin", "b.bin"} {
			if kind == "file" && strings.Contains(data, `"name":"`+n+`"`) {
				got[n] = true
			}
		}
	}
	if !got["a.bin"] || !got["b.bin"] {
		t.Fatalf("late stream's first events named %v, want a.bin and b.bin", got)
	}
	if err := e.fsys.Unstage(context.Background(), "a.bin"); err != nil {
		t.Fatal(err)
	}
	early.want(t, "removed", `{"name":"a.bin"}`)
	late.want(t, "removed", `{"name":"a.bin"}`)
}

// eventReader is one open events stream, its events read by a goroutine.
type eventReader struct{ evs chan [2]string }

func openEvents(t *testing.T, e *env) *eventReader {
	t.Helper()
	resp, err := http.Get(e.srv.URL + control.EventsPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	r := &eventReader{evs: make(chan [2]string, 100)}
	go func() {
		defer close(r.evs)
		sc := bufio.NewScanner(resp.Body)
		var kind string
		for sc.Scan() {
			line := sc.Text()
			if k, ok := strings.CutPrefix(line, "event: "); ok {
				kind = k
			} else if d, ok := strings.CutPrefix(line, "data: "); ok {
				r.evs <- [2]string{kind, d}
			}
		}
	}()
	return r
}

// next returns the next event's kind and data; 10 s without one fails.
func (r *eventReader) next(t *testing.T) (kind, data string) {
	t.Helper()
	select {
	case ev, ok := <-r.evs:
		if !ok {
			t.Fatal("events stream ended")
		}
		return ev[0], ev[1]
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return "", ""
}

// want skips events until one of kind whose data contains part.
func (r *eventReader) want(t *testing.T, kind, part string) {
	t.Helper()
	for {
		if k, d := r.next(t); k == kind && strings.Contains(d, part) {
			return
		}
	}
}
