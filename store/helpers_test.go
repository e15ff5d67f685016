package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/internal/testorigin"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if maybeServeChildOrigin() {
		return
	}
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait in these tests; hitting it is a hang.
const testTimeout = 30 * time.Second

// dumpAndFail reports a hang with every goroutine's stack.
func dumpAndFail(t testing.TB, what string) {
	t.Helper()
	buf := make([]byte, 1<<22)
	n := runtime.Stack(buf, true)
	t.Fatalf("timed out after %s waiting for %s; goroutines:\n%s", testTimeout, what, buf[:n])
}

// wait blocks until ch is closed or yields a value, failing with a
// goroutine dump after testTimeout.
func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		dumpAndFail(t, what)
		panic("unreachable")
	}
}

// waitAll waits for wg like wait does for a channel.
func waitAll(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	wait(t, done, what)
}

// eventually polls a condition of the system under test (a state that has
// no channel to wait on) until it holds, failing with a goroutine dump after
// testTimeout. It is not used to let time pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			dumpAndFail(t, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// env is one origin, one manager with its own HTTP client, torn down in
// order at the end of the test: manager, idle connections, origin.
type env struct {
	o  *testorigin.Origin
	m  *Manager
	tr *http.Transport
	c  testorigin.Content
}

// quietLogger drops the store's logs unless -v is given.
func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fastOpts are small-file options: quick retries, small chunks, and a
// retry budget so short that Retries alone decides when a fetch gives up.
func fastOpts() Options {
	return Options{
		ChunkSize:   256 << 10,
		NearWindow:  128 << 10,
		RetryBase:   time.Millisecond,
		RetryMax:    5 * time.Millisecond,
		RetryBudget: time.Nanosecond,
		Retries:     4,
	}
}

func newEnv(t testing.TB, oo testorigin.Options, so Options) *env {
	t.Helper()
	o := testorigin.New(t, oo) // closed last (cleanups run in reverse)
	e := &env{o: o, c: oo.Content}
	// The production transport, so every test here runs through the
	// splice path where the body allows it (splice_test.go covers both).
	e.tr = originTransport()
	t.Cleanup(e.tr.CloseIdleConnections)
	if so.Dir == "" {
		so.Dir = t.TempDir()
	}
	if so.Client == nil {
		so.Client = &http.Client{Transport: e.tr}
	}
	if so.Logger == nil {
		so.Logger = quietLogger()
	}
	m, err := NewManager(so)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("manager close: %v", err)
		}
	})
	return e
}

// testSource is a Source and the Remote its probe would find, in one
// literal, for tests that make stores without probing.
type testSource struct {
	Name         string
	URL          string
	Header       http.Header
	Resolved     string // Remote.URL
	Size         int64
	ETag         string
	LastModified time.Time
	NoRange      bool
}

func (ts testSource) split() (Source, Remote) {
	return Source{Name: ts.Name, URL: ts.URL, Header: ts.Header},
		Remote{URL: ts.Resolved, Size: ts.Size, ETag: ts.ETag, LastModified: ts.LastModified, NoRange: ts.NoRange}
}

// source describes the origin's current version as staging would.
func (e *env) source(name string) testSource {
	_, etag, lm := e.o.Version()
	return testSource{Name: name, URL: e.o.URL(), Size: e.c.Size, ETag: etag, LastModified: lm}
}

func (e *env) newStore(t testing.TB, src testSource) *Store {
	t.Helper()
	s, err := e.m.create(src.split())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readAt reads [off, off+n) through the store in a goroutine bounded by
// testTimeout.
func readAt(t testing.TB, s *Store, off, n int64) ([]byte, error) {
	t.Helper()
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		p := make([]byte, n)
		k, err := s.ReadAt(context.Background(), p, off)
		ch <- res{p[:k], err}
	}()
	r := wait(t, ch, fmt.Sprintf("ReadAt(%d, %d)", off, n))
	return r.b, r.err
}

// checkRead reads and compares byte for byte with the content; it expects
// io.EOF exactly when the read reaches the end of the file.
func checkRead(t testing.TB, s *Store, c testorigin.Content, off, n int64) {
	t.Helper()
	got, err := readAt(t, s, off, n)
	if err := compareRead(c, off, n, got, err); err != nil {
		t.Fatal(err)
	}
}

// compareRead checks one ReadAt result against the content.
func compareRead(c testorigin.Content, off, n int64, got []byte, err error) error {
	want := c.Bytes(off, n)
	short := off+n > c.Size
	switch {
	case short && !errors.Is(err, io.EOF):
		return fmt.Errorf("read %d+%d past the end: err %v, want io.EOF", off, n, err)
	case !short && err != nil:
		return fmt.Errorf("read %d+%d: %v", off, n, err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		return fmt.Errorf("read %d+%d: got %d bytes, want %d; first difference at byte %d", off, n, len(got), len(want), off+int64(i))
	}
	return nil
}

// rangeStart parses the first byte of a "bytes=a-b" header; -1 if none.
func rangeStart(h string) int64 {
	v, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return -1
	}
	a, _, _ := strings.Cut(v, "-")
	n, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func gets(o *testorigin.Origin) []testorigin.Request {
	var out []testorigin.Request
	for _, r := range o.Requests() {
		if r.Method == http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

// waitSent waits until the origin has counted at least n body bytes of
// GETs, and returns the count. The origin counts a write once it returns,
// which can be after the client already has its bytes.
func waitSent(t testing.TB, o *testorigin.Origin, n int64) int64 {
	t.Helper()
	var sent int64
	sum := func() int64 {
		var k int64
		for _, r := range gets(o) {
			k += r.BytesSent
		}
		return k
	}
	eventually(t, fmt.Sprintf("the origin to count %d bytes sent", n), func() bool {
		sent = sum()
		return sent >= n
	})
	return sent
}

func logString(reqs []testorigin.Request) string {
	var b strings.Builder
	for i, r := range reqs {
		fmt.Fprintf(&b, "\n  #%d %s range=%q if-range=%q status=%d sent=%d", i, r.Method, r.Range, r.IfRange, r.Status, r.BytesSent)
	}
	return b.String()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func waiters(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiters)
}
