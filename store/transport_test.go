package store

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"

	"fsm/internal/testorigin"
)

// tlsTransport is the default origin transport trusting o's certificate.
func tlsTransport(t testing.TB, o *testorigin.TLSOrigin) *protocolTransport {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(o.Certificate())
	h1 := originTransport()
	if h1.TLSClientConfig == nil {
		h1.TLSClientConfig = &tls.Config{}
	}
	h1.TLSClientConfig.RootCAs = roots // the rest as fsm has it
	p := newProtocolTransport(h1)
	t.Cleanup(p.CloseIdleConnections)
	return p
}

// Parallel requests travel on TCP connections of their own whatever the
// origin speaks: HTTP/1.1 where it can (also when it offers h2), HTTP/2
// lanes where it speaks nothing else. Each response's body is held by the
// origin until all are sent, so every request finds the others' connections
// busy.
func TestParallelRequestsAreConnections(t *testing.T) {
	tests := []struct {
		kind      testorigin.Protocols
		wantProto string
	}{
		{testorigin.H1AndH2, "HTTP/1.1"},
		{testorigin.H1Only, "HTTP/1.1"},
		{testorigin.H2Only, "HTTP/2.0"},
	}
	const parallel = 4
	for _, tc := range tests {
		t.Run(tc.kind.String(), func(t *testing.T) {
			c := testorigin.Content{Seed: 19, Size: parallel << 16}
			o := testorigin.NewTLS(t, testorigin.Options{Content: c}, testorigin.TLSOptions{Protocols: tc.kind})
			cl := &http.Client{Transport: tlsTransport(t, o)}
			release := o.Block()
			defer release()
			var resps []*http.Response
			for i := range int64(parallel) {
				req, _ := http.NewRequest(http.MethodGet, o.URL(), nil)
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", i<<16, (i+1)<<16-1))
				resp, err := cl.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				defer resp.Body.Close()
				resps = append(resps, resp)
			}
			release()
			for i, resp := range resps {
				b, err := io.ReadAll(resp.Body)
				if err != nil || !bytes.Equal(b, c.Bytes(int64(i)<<16, 1<<16)) {
					t.Fatalf("range %d: %d bytes, %v", i, len(b), err)
				}
				if resp.Proto != tc.wantProto {
					t.Errorf("range %d over %s, want %s", i, resp.Proto, tc.wantProto)
				}
			}
			// An h2-only origin also saw the HTTP/1.1 attempt it refused.
			want := parallel
			if tc.kind == testorigin.H2Only {
				want++
			}
			if got := o.Accepted(); got != want {
				t.Errorf("origin accepted %d connections, want %d", got, want)
			}
		})
	}
}

// The HTTP/1.1 transport never offers h2, also once Go's DefaultTransport
// (which it is cloned from) has been used and lists h2 for ALPN.
func TestOriginTransportOffersOnlyHTTP1(t *testing.T) {
	o := testorigin.NewTLS(t, testorigin.Options{Content: testorigin.Content{Seed: 2, Size: 10}}, testorigin.TLSOptions{})
	if resp, err := http.DefaultTransport.RoundTrip(httptestRequest(t, o.URL())); err == nil {
		resp.Body.Close() // a failed handshake (unknown authority) is as good: h2 is set up
	}
	if c := originTransport().TLSClientConfig; c != nil && slices.Contains(c.NextProtos, "h2") {
		t.Fatalf("the HTTP/1.1 transport offers %q", c.NextProtos)
	}
	e, _ := newTLSEnv(t, testorigin.Options{Content: testorigin.Content{Seed: 2, Size: 1 << 20}}, testorigin.TLSOptions{Protocols: testorigin.H1AndH2}, nil)
	s := e.newStore(t, e.source("f"))
	checkRead(t, s, e.c, 0, e.c.Size)
	if p := s.Progress().Protocol; p != "http/1.1" {
		t.Fatalf("read over %q, want http/1.1", p)
	}
}

func httptestRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
