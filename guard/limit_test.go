package guard

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// recordedSleeps is a penalty's sleep that only records.
type recordedSleeps struct{ got []time.Duration }

func (s *recordedSleeps) sleep(d time.Duration) { s.got = append(s.got, d) }

// authClient sends requests to h, each on conn's connection (nil: a new
// connection per request).
func authClient(h http.Handler) func(conn context.Context, addr, user, pass string) int {
	return func(conn context.Context, addr, user, pass string) int {
		r := httptest.NewRequest("GET", "/", nil)
		if conn != nil {
			r = r.WithContext(conn)
		}
		r.RemoteAddr = addr
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
}

// TestBasicAuthOwnerNeverLockedOut: after any number of wrong guesses from
// the owner's own address, the right credentials succeed at once.
func TestBasicAuthOwnerNeverLockedOut(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	sleeps := &recordedSleeps{}
	do := authClient(basicAuth(okHandler, "alice", "s3cret", "fsm", newPenalty(clock.now, sleeps.sleep)))
	for i := range 50 {
		if got := do(nil, "127.0.0.1:40000", "alice", "guess"+strconv.Itoa(i)); got != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, got)
		}
	}
	n := len(sleeps.got)
	if got := do(nil, "127.0.0.1:40001", "alice", "s3cret"); got != http.StatusTeapot {
		t.Errorf("right password after 50 wrong ones: %d, want it accepted", got)
	}
	if len(sleeps.got) != n {
		t.Errorf("right password waited %s", sleeps.got[n:])
	}
}

// TestBasicAuthDelay: a wrong guess waits a delay that doubles with each
// guess on the same connection up to the cap; a request without
// credentials waits nothing and does not count.
func TestBasicAuthDelay(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	sleeps := &recordedSleeps{}
	do := authClient(basicAuth(okHandler, "alice", "s3cret", "fsm", newPenalty(clock.now, sleeps.sleep)))
	conn := ConnContext(context.Background(), nil)
	for range 3 {
		do(conn, "127.0.0.1:40000", "", "")
	}
	if len(sleeps.got) != 0 {
		t.Fatalf("requests without credentials waited %s", sleeps.got)
	}
	for i := range 8 {
		do(conn, "127.0.0.1:40000", "alice", "guess"+strconv.Itoa(i))
		clock.t = clock.t.Add(time.Minute) // no pressure from other guesses
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}
	if !slices.Equal(sleeps.got, want) {
		t.Errorf("delays %s, want %s", sleeps.got, want)
	}
	// Another connection starts at the bottom again.
	sleeps.got = nil
	do(ConnContext(context.Background(), nil), "127.0.0.1:40001", "alice", "guess")
	if want := []time.Duration{failDelayBase}; !slices.Equal(sleeps.got, want) {
		t.Errorf("first guess on a new connection waited %s, want %s", sleeps.got, want)
	}
}

// TestBasicAuthDelayRotatingAddresses: a guesser that uses a new connection
// from another 127/8 address for every guess still pays a growing delay.
func TestBasicAuthDelayRotatingAddresses(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	sleeps := &recordedSleeps{}
	do := authClient(basicAuth(okHandler, "alice", "s3cret", "fsm", newPenalty(clock.now, sleeps.sleep)))
	for i := range 100 {
		addr := fmt.Sprintf("127.%d.%d.%d:%d", i>>16&255, i>>8&255, i&255+1, 40000+i)
		if got := do(nil, addr, "alice", "guess"+strconv.Itoa(i)); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, got)
		}
	}
	if len(sleeps.got) != 100 {
		t.Fatalf("%d of 100 wrong guesses waited", len(sleeps.got))
	}
	if first, last := sleeps.got[0], sleeps.got[99]; first != failDelayBase || last != failDelayMax {
		t.Errorf("delays went from %s to %s, want %s to %s", first, last, failDelayBase, failDelayMax)
	}
	var total time.Duration
	for _, d := range sleeps.got {
		total += d
	}
	if total < 5*time.Minute {
		t.Errorf("100 guesses from rotating addresses cost %s in all, want at least 5 min", total)
	}
}

func TestFailDelay(t *testing.T) {
	for k, want := range map[int]time.Duration{0: failDelayBase, 1: 2 * failDelayBase, 5: failDelayMax, 6: failDelayMax, 1000: failDelayMax} {
		if got := failDelay(k); got != want {
			t.Errorf("failDelay(%d) = %s, want %s", k, got, want)
		}
	}
}

// TestOptionsStar: "OPTIONS *" is guarded like every other request once the
// server hands it to the handler (DisableGeneralOptionsHandler); net/http's
// own answer, which bypasses every handler, is what that setting turns off.
func TestOptionsStar(t *testing.T) {
	var h http.Handler = okHandler
	h = BasicAuth(h, "alice", "s3cret", "fsm")
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = Host(h, nil, srv.Listener.Addr().String())
	srv.Config.DisableGeneralOptionsHandler = true
	srv.Start()
	defer srv.Close()
	raw := func(host, auth string) int {
		t.Helper()
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		req := "OPTIONS * HTTP/1.1\r\nHost: " + host + "\r\n"
		if auth != "" {
			req += "Authorization: " + auth + "\r\n"
		}
		fmt.Fprint(c, req+"Connection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := raw("evil.example", ""); got != http.StatusForbidden {
		t.Errorf("OPTIONS * with a foreign Host: %d, want 403", got)
	}
	if got := raw("localhost", ""); got != http.StatusUnauthorized {
		t.Errorf("OPTIONS * without credentials: %d, want 401", got)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth("alice", "s3cret")
	if got := raw("localhost", r.Header.Get("Authorization")); got != http.StatusTeapot {
		t.Errorf("OPTIONS * with credentials: %d, want the handler's answer", got)
	}
}
