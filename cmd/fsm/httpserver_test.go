package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fsm/control"
	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// trickle sends a request with a 1000-byte body at one byte a second and
// returns how long until the server ended the connection, and what it
// answered (empty when it just closed).
func trickle(t *testing.T, base, method string) (time.Duration, string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "%s / HTTP/1.1\r\nHost: %s\r\nDepth: 0\r\nContent-Type: application/xml\r\nContent-Length: 1000\r\n\r\n", method, u.Host)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("<")); err != nil {
					return
				}
			}
		}
	}()
	// 40 s only turns a hang into a failure; the assertion is below.
	conn.SetReadDeadline(time.Now().Add(40 * time.Second))
	answer, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s with a trickled body still open after 40 s; got %q", method, answer)
	}
	return time.Since(start), string(answer)
}

// A request body trickled at 1 byte/s is cut within 20 s, also when the
// answer is a 401 (the server reads an unread body before answering).
func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	o := testorigin.New(t, testorigin.Options{Content: testorigin.Content{Seed: 20, Size: 1000}})
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	open := startServe(t, nil, "--cache-dir", t.TempDir(), o.URL())
	authed := startServe(t, nil, "--cache-dir", t.TempDir(), "--user", "me", "--password-file", pw, o.URL())
	for _, c := range []struct {
		name, url, want string
	}{
		{"no auth", open.url, ""},
		{"failed auth", authed.url, "401"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			took, answer := trickle(t, c.url, "PROPFIND")
			t.Logf("cut after %s: %q", took.Round(100*time.Millisecond), strings.TrimSpace(firstLine(answer)))
			if took > 20*time.Second {
				t.Errorf("connection with a trickled body lasted %s, want under 20 s", took)
			}
			if c.want != "" && !strings.Contains(strings.TrimSpace(firstLine(answer)), c.want) {
				t.Errorf("answer %q, want %s", strings.TrimSpace(firstLine(answer)), c.want)
			}
		})
	}
}

// Untidy paths reach the file itself: no redirect (ServeMux's escaped a
// second time: /a%2520b.bin), no 404.
func TestUntidyPathsReachTheFile(t *testing.T) {
	t.Parallel()
	c := testorigin.Content{Seed: 21, Size: 5000}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/a b.bin"})
	s := startServe(t, nil, "--cache-dir", t.TempDir(), o.Server.URL+"/a%20b.bin")
	base := strings.TrimSuffix(s.url, "/")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	waitServed(t, base+"/a%20b.bin")
	for _, p := range []string{"/a%20b.bin", "//a%20b.bin", "/./a%20b.bin", "/x/../a%20b.bin", "/x/..//a%20b.bin"} {
		resp, err := client.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(body, c.Bytes(0, c.Size)) {
			t.Errorf("GET %s: %s (Location %q), %d bytes", p, resp.Status, resp.Header.Get("Location"), len(body))
		}
	}
	// The control prefix stays reserved however it is spelled.
	for _, p := range []string{"/.fsm/x", "//.fsm/x", "/a/../.fsm/x"} {
		resp, err := client.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", p, resp.Status)
		}
	}
}

// Connections beyond the cap wait for a free slot; reaching the cap is
// logged once for the burst, not once per connection.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	c := testorigin.Content{Seed: 22, Size: 1000}
	o := testorigin.New(t, testorigin.Options{Content: c})
	s := startServe(t, nil, "--cache-dir", t.TempDir(), o.URL())
	waitServed(t, s.url+"file.bin")
	u, _ := url.Parse(s.url)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < maxConns+20; i++ {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, conn)
	}
	fsmtest.Eventually(t, "the connection cap to be logged", func() bool {
		return strings.Contains(s.log.String(), "connection limit reached")
	})
	// One past the cap: connected (the kernel's backlog) but not served.
	extra, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	fmt.Fprintf(extra, "GET /file.bin HTTP/1.1\r\nHost: %s\r\n\r\n", u.Host)
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(extra).ReadString('\n')
		answered <- line
	}()
	// Free most slots: the waiting request is then served.
	for _, c := range held[:maxConns/2+30] {
		c.Close()
	}
	held = held[maxConns/2+30:]
	select {
	case line := <-answered:
		if !strings.Contains(line, "200") {
			t.Errorf("request after slots freed: %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a request waiting for a connection slot was not served after slots freed")
	}
	if n := strings.Count(s.log.String(), "connection limit reached"); n != 1 {
		t.Errorf("cap logged %d times for one burst, want once", n)
	}
}

// waitServed waits until url answers 200: sources given to serve are
// staged in the background.
func waitServed(t *testing.T, url string) {
	t.Helper()
	fsmtest.Eventually(t, url+" served", func() bool {
		resp, err := http.Head(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// An idle keep-alive connection holds a slot of maxConns: it is closed
// within 30 s.
func TestIdleTimeoutBounded(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.IdleTimeout <= 0 || srv.IdleTimeout > 30*time.Second {
		t.Errorf("IdleTimeout %s, want at most 30 s", srv.IdleTimeout)
	}
}

// Events streams do not count against the connection cap: with every slot
// taken by streams, the API and the page still answer.
func TestStreamsLeaveSlots(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, 2, 0, slog.New(slog.DiscardHandler))
	ctl := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != control.EventsPath {
			io.WriteString(w, "api")
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	srv := newHTTPServer(routes(ctl, http.NotFoundHandler()), slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := inner.Addr().String()
	// get sends one request on a connection of its own and returns the
	// answer's head; the connection stays open until the test ends.
	get := func(path string) *http.Response {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// 10 s only turns a wait for a slot into a failure.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp
	}
	for i := range 4 { // twice the cap
		if resp := get(control.EventsPath); !resp.Close {
			t.Errorf("stream %d: the connection stays open for more requests after it", i+1)
		}
	}
	if resp := get("/.fsm/api/v1/info"); resp.StatusCode != http.StatusOK {
		t.Errorf("API with 4 streams open on a cap of 2: %s", resp.Status)
	}
}

// With every general slot held by WebDAV clients, the page and API still
// answer on a slot of the reserve, and WebDAV on such a slot waits for a
// general one rather than being served past the cap.
func TestControlSlotsKept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, 4, 2, slog.New(slog.DiscardHandler))
	ctl := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api") })
	dav := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dav") })
	srv := newHTTPServer(routes(ctl, dav), slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := inner.Addr().String()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// 10 s only turns a wait for a slot into a failure.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	get := func(c net.Conn, path string) *http.Response {
		t.Helper()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp
	}
	// Two WebDAV clients hold the general slots (each served once, so it
	// is known to hold its slot before the next connects).
	var davConns []net.Conn
	for range 2 {
		c := dial()
		davConns = append(davConns, c)
		if resp := get(c, "/file.bin"); resp.StatusCode != http.StatusOK {
			t.Fatalf("WebDAV within the cap: %s", resp.Status)
		}
	}
	if resp := get(dial(), "/.fsm/api/v1/info"); resp.StatusCode != http.StatusOK {
		t.Errorf("API with every general slot held: %s", resp.Status)
	}
	// A third WebDAV client, on the other slot of the reserve, is not
	// served until a general slot is free.
	third := dial()
	fmt.Fprintf(third, "GET /file.bin HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(third), nil)
		if err != nil {
			t.Errorf("third WebDAV client: %v", err)
		}
		answered <- resp
	}()
	// The API still answers on the reserve, whose other slot the waiting
	// client holds: it is served on a general slot freed for it.
	davConns[0].Close()
	if resp := <-answered; resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("WebDAV waiting on the reserve after a general slot freed: %v", resp)
	}
	// It gave its reserved slot back: the API answers again on the reserve.
	if resp := get(dial(), "/.fsm/api/v1/info"); resp.StatusCode != http.StatusOK {
		t.Errorf("API after the waiting client moved to a general slot: %s", resp.Status)
	}
}
