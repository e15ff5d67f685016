package guard

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestOwner: requests from fsm's own uid and root pass; another uid and a
// connection whose owner is unknown get 403 and a closed connection; each
// refused uid is logged once; the connection is looked up once.
func TestOwner(t *testing.T) {
	var log bytes.Buffer
	uids := map[uint16]uint32{1: 1000, 2: 0, 3: 65534, 4: 4242}
	lookups := 0
	lookup := func(local, remote netip.AddrPort) (uint32, error) {
		if !remote.IsValid() {
			return 0, nil // "supported?"
		}
		lookups++
		if uid, ok := uids[remote.Port()]; ok {
			return uid, nil
		}
		return 0, errors.New("no such socket")
	}
	h := owner(okHandler, slog.New(slog.NewTextHandler(&log, nil)), 1000, lookup)
	do := func(conn context.Context, port string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/.fsm/", nil)
		r.RemoteAddr = "127.0.0.1:" + port
		ctx := context.WithValue(conn, http.LocalAddrContextKey, net.Addr(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r.WithContext(ctx))
		return w
	}
	for _, c := range []struct {
		name, port string
		want       int
	}{
		{"fsm's own uid", "1", http.StatusTeapot},
		{"root", "2", http.StatusTeapot},
		{"another uid", "3", http.StatusForbidden},
		{"another uid again", "3", http.StatusForbidden},
		{"a third uid", "4", http.StatusForbidden},
		{"owner unknown", "5", http.StatusForbidden},
	} {
		w := do(context.Background(), c.port)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
		if closed := w.Header().Get("Connection") == "close"; closed != (c.want == http.StatusForbidden) {
			t.Errorf("%s: Connection: close is %v", c.name, closed)
		}
	}
	for uid, want := range map[string]int{"uid=65534": 1, "uid=4242": 1, "uid=1000": 0} {
		if n := strings.Count(log.String(), uid); n != want {
			t.Errorf("%s logged %d times, want %d:\n%s", uid, n, want, log.String())
		}
	}
	// One connection, many requests: one lookup.
	lookups = 0
	conn := ConnContext(context.Background(), nil)
	for range 5 {
		do(conn, "1")
	}
	if lookups != 1 {
		t.Errorf("5 requests on one connection made %d lookups, want 1", lookups)
	}
}

// TestOwnerUnsupported: where owners cannot be looked up, Owner says so
// once when built and passes every request.
func TestOwnerUnsupported(t *testing.T) {
	var log bytes.Buffer
	lookup := func(local, remote netip.AddrPort) (uint32, error) { return 0, errPeerUnsupported }
	h := owner(okHandler, slog.New(slog.NewTextHandler(&log, nil)), 1000, lookup)
	if !strings.Contains(log.String(), "other local users can reach fsm") || strings.Count(log.String(), "\n") != 1 {
		t.Errorf("log at start: %q, want one line saying other local users can reach fsm", log.String())
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusTeapot {
		t.Errorf("request: %d, want it passed on", w.Code)
	}
}
