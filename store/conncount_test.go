package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"fsm/internal/testorigin"
)

// newTLSEnv is newEnv over a TLS origin, with client (nil: the default
// origin transport) trusting its certificate.
func newTLSEnv(t *testing.T, oo testorigin.Options, to testorigin.TLSOptions, client func(*testorigin.TLSOrigin) *http.Client) (*env, *testorigin.TLSOrigin) {
	t.Helper()
	o := testorigin.NewTLS(t, oo, to)
	so := fastOpts()
	so.Dir, so.Logger = t.TempDir(), quietLogger()
	if client == nil {
		so.Client = &http.Client{Transport: tlsTransport(t, o)}
	} else {
		so.Client = client(o)
	}
	m, err := NewManager(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return &env{o: o.Origin, m: m, c: oo.Content}, o
}

// multiplexing is a client that puts every request to a host on one HTTP/2
// connection, as Go's default transport does.
func multiplexing(o *testorigin.TLSOrigin) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(o.Certificate())
	t := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	return &http.Client{Transport: t}
}

// Progress counts TCP connections, not requests: four fetches held by the
// origin mid-body are four connections over HTTP/1.1, and one when a
// client multiplexes them over HTTP/2; the protocol is named as ALPN does.
func TestProgressCountsConnections(t *testing.T) {
	tests := []struct {
		name      string
		client    func(*testorigin.TLSOrigin) *http.Client
		one       bool // all fetches share one connection
		wantProto string
	}{
		{"http/1.1, a connection each", nil, false, "http/1.1"},
		{"h2 multiplexed, one for all", multiplexing, true, "h2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testorigin.Content{Seed: 29, Size: 4 << 20}
			e, o := newTLSEnv(t, testorigin.Options{Content: c}, testorigin.TLSOptions{}, tc.client)
			s := e.newStore(t, e.source("f"))
			release := o.Block()
			defer release()
			var wg sync.WaitGroup
			for i := range int64(4) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					off := i * c.Size / 4
					got, err := readAt(t, s, off, 64<<10)
					if err := compareRead(c, off, 64<<10, got, err); err != nil {
						t.Error(err)
					}
				}()
			}
			var bodies, conns int
			eventually(t, "four bodies held by the origin", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				bodies, conns = 0, len(s.open)
				for _, n := range s.open {
					bodies += n
				}
				return bodies >= 4 && bodies == o.Waiting()
			})
			p := s.Progress()
			want := bodies
			if tc.one {
				want = 1
			}
			if p.Conns != want || conns != want || p.Protocol != tc.wantProto {
				t.Errorf("%d bodies: Progress says %d connections over %q, want %d over %q", bodies, p.Conns, p.Protocol, want, tc.wantProto)
			}
			release()
			waitAll(t, &wg, "the reads")
		})
	}
}

// The "download complete" line names the protocol and the most TCP
// connections the file used at once.
func TestDownloadCompleteLogNamesProtocol(t *testing.T) {
	var buf syncBuffer
	c := testorigin.Content{Seed: 37, Size: 1 << 20}
	o := testorigin.NewTLS(t, testorigin.Options{Content: c}, testorigin.TLSOptions{Protocols: testorigin.H1AndH2})
	so := fastOpts()
	so.Dir, so.Client = t.TempDir(), &http.Client{Transport: tlsTransport(t, o)}
	so.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	m, err := NewManager(so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	e := &env{o: o.Origin, m: m, c: c}
	s := e.newStore(t, e.source("f"))
	checkRead(t, s, c, 0, c.Size)
	eventually(t, "the download complete line", func() bool { return strings.Contains(buf.String(), "download complete") })
	line := buf.String()[strings.Index(buf.String(), "msg=\"download complete\""):]
	line, _, _ = strings.Cut(line, "\n")
	if !strings.Contains(line, "protocol=http/1.1") || !strings.Contains(line, "connections=") || strings.Contains(line, "connections=0") {
		t.Fatalf("download complete line %q, want protocol=http/1.1 and its connections", line)
	}
}

// syncBuffer is a bytes.Buffer for a logger written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
