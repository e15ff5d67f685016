package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"fsm/control"
	"fsm/guard"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
	"fsm/store"
)

// newEnvWith is newEnv with the store options given.
func newEnvWith(t *testing.T, so store.Options) *env {
	t.Helper()
	fsys, _ := fsmtest.Tree(t, so)
	ctl := control.New(control.Options{FS: fsys, Token: token, StageTimeout: 10 * time.Second, Tick: 20 * time.Millisecond})
	e := &env{fsys: fsys, ctl: ctl}
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.Config.Handler = guard.Host(ctl, nil, e.srv.Listener.Addr().String())
	e.srv.Start()
	t.Cleanup(func() { ctl.Close(); e.srv.Close() })
	return e
}

func (e *env) object(t *testing.T, name string) object {
	t.Helper()
	_, _, b := e.do(t, call{method: "GET", path: "/.fsm/api/v1/files/" + name})
	var obj object
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatalf("object of %s: %v (%s)", name, err, b)
	}
	return obj
}

// Retry: a file in error resumes at once, a failed one is staged again
// from its source, anything else is refused with not_failing.
func TestRetry(t *testing.T) {
	const size = 1 << 20
	tests := []struct {
		name string
		// fail brings the staged file into its state; it returns what
		// the origin serves after the retry.
		fail      func(t *testing.T, e *env, o *testorigin.Origin) testorigin.Content
		wantState string // before the retry
	}{
		{"error resumes", func(t *testing.T, e *env, o *testorigin.Origin) testorigin.Content {
			o.SetFailCount(1 << 20)
			h, err := e.fsys.Open("r.bin")
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if _, err := h.ReadAt(context.Background(), make([]byte, 64), 0); err == nil {
				t.Fatal("read from a failing origin succeeded")
			}
			o.SetFailCount(0)
			c, _, _ := o.Version()
			return c
		}, "error"},
		{"failed is staged again", func(t *testing.T, e *env, o *testorigin.Origin) testorigin.Content {
			o.Change()
			h, err := e.fsys.Open("r.bin")
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			h.ReadAt(context.Background(), make([]byte, 64), 0)
			c, _, _ := o.Version()
			return c
		}, "failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 12, Size: size}, Name: "/r.bin"})
			e := newEnvWith(t, store.Options{RetryBase: time.Millisecond, RetryMax: time.Millisecond, RetryBudget: time.Nanosecond, Retries: 1})
			if st, _, b := e.do(t, call{method: "POST", path: "/.fsm/api/v1/files", body: `{"url":"` + o.URL() + `"}`}); st != 201 {
				t.Fatalf("stage: %d %s", st, b)
			}
			retry := call{method: "POST", path: "/.fsm/api/v1/files/r.bin/retry"}
			if st, _, b := e.do(t, retry); st != 409 || !bytes.Contains(b, []byte(`"not_failing"`)) {
				t.Fatalf("retry of an idle file: %d %s, want 409 not_failing", st, b)
			}
			want := tc.fail(t, e, o)
			fsmtest.Eventually(t, "state "+tc.wantState, func() bool { return e.object(t, "r.bin").State == tc.wantState })
			st, _, b := e.do(t, retry)
			var obj object
			json.Unmarshal(b, &obj)
			if st != 200 || obj.Name != "r.bin" || obj.State == tc.wantState {
				t.Fatalf("retry: %d %s, want 200 and the file in another state", st, b)
			}
			// A retried file downloads on its own, without a read.
			fsmtest.Eventually(t, "complete after the retry", func() bool { return e.object(t, "r.bin").State == "complete" || tc.wantState == "failed" })
			h, err := e.fsys.Open("r.bin")
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			got := make([]byte, size)
			if _, err := h.ReadAt(context.Background(), got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes(0, size)) {
				t.Fatal("after the retry the bytes are not the origin's")
			}
		})
	}
	t.Run("not staged", func(t *testing.T) {
		e := newEnvWith(t, store.Options{})
		if st, _, b := e.do(t, call{method: "POST", path: "/.fsm/api/v1/files/nope.bin/retry"}); st != 404 {
			t.Fatalf("retry of nothing: %d %s, want 404", st, b)
		}
	})
}
