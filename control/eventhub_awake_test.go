package control

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"fsm/control/api"
	"fsm/vfs"
)

// keep_awake is in every snapshot's full list and in a delta when it
// changes; after_read actions reach a stream that kept up through the
// delta and one that fell behind through the difference, each once, and
// never a stream that connected after them.
func TestEventHubAwakeAndActions(t *testing.T) {
	ka := api.KeepAwake{}
	var log []vfs.Action
	h := newEventHub(time.Hour, func() ([]api.File, string) { return nil, "" }, slog.New(slog.DiscardHandler))
	h.awake = func() api.KeepAwake { return ka }
	h.actions = func(after uint64) ([]vfs.Action, uint64) {
		var out []vfs.Action
		last := uint64(0)
		for _, a := range log {
			if a.Seq > after {
				out = append(out, a)
			}
			last = a.Seq
		}
		return out, last
	}
	h.refresh()
	s1 := h.current()
	if got := string(s1.full()); got != "event: keep_awake\ndata: {\"active\":false,\"reason\":\"\"}\n\n" {
		t.Fatalf("full at start: %q", got)
	}
	ka = api.KeepAwake{Active: true, Reason: "1 transfer"}
	h.refresh()
	s2 := h.current()
	if got := string(changes(s1, s2)); got != "event: keep_awake\ndata: {\"active\":true,\"reason\":\"1 transfer\"}\n\n" {
		t.Fatalf("delta of a keep_awake change: %q", got)
	}
	log = append(log, vfs.Action{Seq: 1, Name: "a.bin", Did: vfs.AfterReadEvict, Bytes: 10})
	h.refresh()
	s3 := h.current()
	log = append(log, vfs.Action{Seq: 2, Name: "b.bin", Did: vfs.AfterReadUnstage, Bytes: 20})
	h.refresh()
	s4 := h.current()
	a := `event: after_read` + "\n" + `data: {"name":"a.bin","action":"evict","bytes":10}` + "\n\n"
	b := `event: after_read` + "\n" + `data: {"name":"b.bin","action":"unstage","bytes":20}` + "\n\n"
	for _, tc := range []struct {
		name     string
		from, to *snapshot
		want     string
	}{
		{"kept up", s3, s4, b},
		{"fell behind", s2, s4, a + b},
		{"fell behind over the keep_awake change", s1, s4, "event: keep_awake\ndata: {\"active\":true,\"reason\":\"1 transfer\"}\n\n" + a + b},
	} {
		if got := string(changes(tc.from, tc.to)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := string(s4.full()); strings.Contains(got, "after_read") {
		t.Errorf("a new stream's first events carry past actions: %q", got)
	}
}
