package main

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// readFromConn records whether its own ReadFrom ran, as *net.TCPConn's
// (sendfile) would.
type readFromConn struct {
	net.Conn
	got strings.Builder
	via string
}

func (c *readFromConn) ReadFrom(r io.Reader) (int64, error) {
	c.via = "ReadFrom"
	return io.Copy(&c.got, r)
}

func (c *readFromConn) CloseWrite() error {
	c.via = "CloseWrite"
	return nil
}

func (c *readFromConn) Write(p []byte) (int, error) {
	c.via = "Write"
	return c.got.Write(p)
}

type oneConnListener struct {
	net.Listener
	c net.Conn
}

func (l *oneConnListener) Accept() (net.Conn, error) { return l.c, nil }

// net/http sends file bodies with sendfile only when the connection has a
// ReadFrom, and half-closes only when it has a CloseWrite; the cap's
// wrapper must not hide them.
func TestCappedConnKeepsTCPMethods(t *testing.T) {
	inner := &readFromConn{}
	ln := limitListener(&oneConnListener{c: inner}, 4, 0, slog.New(slog.DiscardHandler))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	rf, ok := c.(io.ReaderFrom)
	if !ok {
		t.Fatalf("%T has no ReadFrom: net/http would copy through a buffer", c)
	}
	if _, err := rf.ReadFrom(strings.NewReader("body")); err != nil {
		t.Fatal(err)
	}
	if inner.via != "ReadFrom" || inner.got.String() != "body" {
		t.Errorf("ReadFrom reached the connection via %s with %q, want its ReadFrom with %q", inner.via, inner.got.String(), "body")
	}
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", c)
	}
	if err := cw.CloseWrite(); err != nil || inner.via != "CloseWrite" {
		t.Errorf("CloseWrite: %v, reached the connection via %s, want its CloseWrite", err, inner.via)
	}
}
