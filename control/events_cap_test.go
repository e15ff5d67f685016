package control_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"fsm/control"
)

// TestEventsStreamsCapped: streams that never read cannot hold the server:
// with 64 open, a new one is served and the oldest is ended.
func TestEventsStreamsCapped(t *testing.T) {
	e := newEnv(t, control.Options{})
	addr := e.srv.Listener.Addr().String()
	open := func() *bufio.Reader {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", control.EventsPath, addr)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream: %s", resp.Status)
		}
		return bufio.NewReader(resp.Body)
	}
	oldest := open()
	for range 63 {
		open() // then never read
	}
	open() // the 65th is served (open checks its status)
	// The oldest ends, its connection closed, well before the 20 s
	// deadline.
	_, err := io.Copy(io.Discard, oldest)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("the oldest stream did not end: %v", err)
	}
}
