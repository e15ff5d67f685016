package guard

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestBasicAuthRateLimit(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := basicAuth(okHandler, "alice", "s3cret", "fsm", newLimiter(clock.now))
	do := func(addr, user, pass string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	const attacker, other = "203.0.113.7:40000", "203.0.113.8:40000"
	// Requests without credentials (a client asking for the challenge)
	// never count.
	for range 3 * failLimit {
		if w := do(attacker, "", ""); w.Code != http.StatusUnauthorized {
			t.Fatalf("no credentials: %d, want 401", w.Code)
		}
	}
	for i := range failLimit {
		if w := do(attacker, "alice", "guess"+strconv.Itoa(i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, w.Code)
		}
		clock.t = clock.t.Add(time.Second)
	}
	w := do(attacker, "alice", "guess")
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d, want 429", failLimit, w.Code)
	}
	// The window opened at the first failure, 10 s ago: 50 s are left.
	if got := w.Header().Get("Retry-After"); got != "50" {
		t.Errorf("Retry-After %q, want 50", got)
	}
	if w := do("203.0.113.7:40001", "alice", "s3cret"); w.Code != http.StatusTooManyRequests {
		t.Errorf("right password from the limited address (another port): %d, want 429", w.Code)
	}
	if w := do(other, "alice", "s3cret"); w.Code != http.StatusTeapot {
		t.Errorf("another address: %d, want it untouched", w.Code)
	}
	clock.t = clock.t.Add(50 * time.Second)
	if w := do(attacker, "alice", "s3cret"); w.Code != http.StatusTeapot {
		t.Errorf("after the window: %d, want the right password accepted", w.Code)
	}
	if w := do(attacker, "alice", "guess"); w.Code != http.StatusUnauthorized {
		t.Errorf("first failure of a new window: %d, want 401", w.Code)
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ a, b string }{
		{"192.0.2.1:1", "192.0.2.1:2"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:1"}, // one /64
		{"[::ffff:192.0.2.1]:1", "192.0.2.1:2"},
	} {
		if clientKey(c.a) != clientKey(c.b) {
			t.Errorf("%s and %s are limited apart", c.a, c.b)
		}
	}
	for _, c := range []struct{ a, b string }{
		{"192.0.2.1:1", "192.0.2.2:1"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1"},
	} {
		if clientKey(c.a) == clientKey(c.b) {
			t.Errorf("%s and %s share a limit", c.a, c.b)
		}
	}
}

// TestLimiterBounded: a flood of failures from ever new addresses keeps the
// table at maxClients, and ended windows go first.
func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(clock.now)
	for i := range 3 * maxClients {
		l.fail(clientKey(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)))
		if i%1000 == 0 {
			clock.t = clock.t.Add(time.Millisecond)
		}
	}
	if n := len(l.clients); n > maxClients {
		t.Fatalf("table holds %d addresses, bound is %d", n, maxClients)
	}
	// Ended windows are swept before live ones are evicted.
	for i := 0; len(l.clients) < maxClients; i++ {
		l.fail(clientKey(fmt.Sprintf("172.16.%d.%d:1", i>>8&255, i&255)))
	}
	clock.t = clock.t.Add(failWindow)
	fresh := clientKey("192.0.2.99:1")
	for range failLimit {
		l.fail(fresh)
	}
	if l.wait(fresh) == 0 {
		t.Errorf("a fresh attacker is not limited")
	}
	if n := len(l.clients); n != 1 {
		t.Errorf("after every other window ended, the table holds %d addresses, want 1", n)
	}
}

// TestOptionsStar: "OPTIONS *" is guarded like every other request once the
// server hands it to the handler (DisableGeneralOptionsHandler); net/http's
// own answer, which bypasses every handler, is what that setting turns off.
func TestOptionsStar(t *testing.T) {
	t.Parallel()
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
