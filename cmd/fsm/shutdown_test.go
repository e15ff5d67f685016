package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// A WebDAV read blocked on a stalled origin when SIGTERM arrives gets the
// documented 503 once the drain is over, not a connection closed without an
// answer; fsm still exits 0 and leaves nothing in its cache dir.
func TestShutdownAnswersBlockedRead(t *testing.T) {
	c := testorigin.Content{Seed: 24, Size: 1 << 20}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/stuck.bin"})
	cache := t.TempDir()
	s := startServe(t, []string{"FSM_CACHE_DIR=" + cache, "FSM_PERSIST=false"}, o.URL())
	s.waitState(t, "stuck.bin", "idle")
	release := o.Block()
	defer release()

	type answer struct {
		status int
		body   string
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get(s.url + "stuck.bin")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, string(b), err}
	}()
	fsmtest.Eventually(t, "a GET held by the origin", func() bool { return o.Waiting() > 0 })

	stopped := make(chan int, 1)
	go func() { stopped <- s.stop(t) }()
	select {
	case a := <-got:
		if a.err != nil || a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "shutting down") {
			t.Errorf("blocked GET at shutdown: status %d, body %q, err %v; want 503 saying fsm is shutting down", a.status, a.body, a.err)
		}
	case <-time.After(drainTimeout + 20*time.Second):
		t.Fatalf("the blocked GET got no answer after SIGTERM:\n%s", s.log)
	}
	if code := <-stopped; code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, s.log)
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "*")); len(left) != 0 {
		t.Errorf("left in the cache dir: %v", left)
	}
}
