package control

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/control/api"
)

// A stream that missed snapshots (it was still writing) catches up with
// the difference: changed and new files once each, then removals; one
// that kept up gets the shared delta.
func TestEventHubChanges(t *testing.T) {
	var tree []api.File
	h := newEventHub(time.Hour, func() ([]api.File, string) { return tree, "" }, slog.New(slog.DiscardHandler))
	file := func(name string, downloaded int64) api.File {
		return api.File{Name: name, State: "idle", Downloaded: downloaded, Headers: []string{}, Paths: []string{}}
	}
	s0 := h.current()
	tree = []api.File{file("a", 0), file("b", 0), file("c", 0)}
	h.refresh()
	s1 := h.current()
	tree = []api.File{file("a", 5), file("c", 0), file("d", 0)}
	h.refresh()
	s2 := h.current()
	h.refresh() // nothing changed: no new snapshot
	if h.current() != s2 {
		t.Fatal("an unchanged tree published a snapshot")
	}
	select {
	case <-s1.next:
	default:
		t.Fatal("s1.next not closed by s2")
	}

	events := func(b []byte) []string {
		var out []string
		for _, ev := range strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n") {
			if ev != "" {
				out = append(out, ev)
			}
		}
		return out
	}
	ev := func(kind, name string, downloaded int64) string {
		if kind == "removed" {
			return `event: removed` + "\n" + `data: {"name":"` + name + `"}`
		}
		b, _ := encodeEvent("file", file(name, downloaded))
		return strings.TrimSuffix(string(b), "\n\n")
	}
	for _, tc := range []struct {
		name     string
		from, to *snapshot
		want     []string
	}{
		{"kept up", s1, s2, []string{ev("file", "a", 5), ev("file", "d", 0), ev("removed", "b", 0)}},
		{"missed one", s0, s2, []string{ev("file", "a", 5), ev("file", "c", 0), ev("file", "d", 0)}},
		{"first", s0, s1, []string{ev("file", "a", 0), ev("file", "b", 0), ev("file", "c", 0)}},
	} {
		got := events(changes(tc.from, tc.to))
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: got\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
	if got, want := events(s2.full()), []string{ev("file", "a", 5), ev("file", "c", 0), ev("file", "d", 0)}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("full: got %q, want %q", got, want)
	}
}

// A stream that connects after every other left starts from the tree as it
// is, not from the snapshot the last one left; one that connects beside
// another starts from that one's.
func TestEventHubSubscribeFresh(t *testing.T) {
	var mu sync.Mutex
	tree := []api.File{{Name: "old"}}
	h := newEventHub(time.Hour, func() ([]api.File, string) {
		mu.Lock()
		defer mu.Unlock()
		return tree, ""
	}, slog.New(slog.DiscardHandler))
	names := func(s *snapshot) string {
		var out []string
		for _, f := range s.order {
			out = append(out, f.name)
		}
		return strings.Join(out, ",")
	}
	if got := names(h.subscribe()); got != "old" {
		t.Fatalf("first stream starts from %q, want old", got)
	}
	h.unsubscribe()
	mu.Lock()
	tree = []api.File{{Name: "new"}}
	mu.Unlock()
	if got := names(h.subscribe()); got != "new" {
		t.Fatalf("a stream after the last left starts from %q, want new", got)
	}
	mu.Lock()
	tree = []api.File{{Name: "newer"}}
	mu.Unlock()
	if got := names(h.subscribe()); got != "new" {
		t.Fatalf("a stream beside another starts from %q, want the last tick's (new)", got)
	}
	h.unsubscribe()
	h.unsubscribe()
}
