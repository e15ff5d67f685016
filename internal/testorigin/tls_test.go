package testorigin

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// clientFor is o's trusting client speaking the given protocols.
func clientFor(o *TLSOrigin, h1, h2 bool) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(o.Certificate())
	t := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	var p http.Protocols
	p.SetHTTP1(h1)
	p.SetHTTP2(h2)
	t.Protocols = &p
	t.ForceAttemptHTTP2 = h2
	return &http.Client{Transport: t}
}

// Each kind of TLS origin speaks what it says: the protocol a client gets,
// or a refused handshake for an HTTP/1.1 client of an h2-only origin.
func TestTLSOriginProtocols(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind         Protocols
		h1, h2       bool
		want         string // resp.Proto; "" for a refused handshake
		wantAccepted int
	}{
		{H1AndH2, true, true, "HTTP/2.0", 1},
		{H1AndH2, true, false, "HTTP/1.1", 1},
		{H1Only, true, true, "HTTP/1.1", 1},
		{H2Only, true, true, "HTTP/2.0", 1},
		{H2Only, true, false, "", 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s h1=%v h2=%v", tc.kind, tc.h1, tc.h2), func(t *testing.T) {
			t.Parallel()
			c := Content{Seed: 3, Size: 64 << 10}
			o := NewTLS(t, Options{Content: c}, TLSOptions{Protocols: tc.kind})
			resp, err := clientFor(o, tc.h1, tc.h2).Get(o.URL())
			if tc.want == "" {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %s, want a refused handshake", resp.Proto)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Proto != tc.want || !bytes.Equal(b, c.Bytes(0, c.Size)) {
				t.Fatalf("got %s with %d bytes, want %s with the file", resp.Proto, len(b), tc.want)
			}
			if got := o.Accepted(); got != tc.wantAccepted {
				t.Fatalf("accepted %d connections, want %d", got, tc.wantAccepted)
			}
		})
	}
}

// The limit is per TCP connection: two HTTP/2 streams on one connection
// share it (taking as long as one stream with all the bytes), while two
// HTTP/1.1 requests get a connection, and a limit, each.
func TestTLSOriginLimitsEachConnection(t *testing.T) {
	t.Parallel()
	const rate, each = 4e6, 1 << 20
	tests := []struct {
		name         string
		h2           bool
		wantAccepted int
		minTime      time.Duration
	}{
		{"h2 streams share one connection", true, 1, time.Duration(float64(2*each) / rate * float64(time.Second))},
		{"http/1.1 requests use one each", false, 2, time.Duration(float64(each) / rate * float64(time.Second))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Content{Seed: 4, Size: 2 * each}
			o := NewTLS(t, Options{Content: c}, TLSOptions{ConnBytesPerSecond: rate})
			cl := clientFor(o, true, tc.h2)
			if tc.h2 {
				// One connection first, so that both streams find it.
				resp, err := cl.Head(o.URL())
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			start := time.Now()
			var wg sync.WaitGroup
			for i := range int64(2) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(http.MethodGet, o.URL(), nil)
					req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", i*each, (i+1)*each-1))
					resp, err := cl.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					if err != nil || !bytes.Equal(b, c.Bytes(i*each, each)) {
						t.Errorf("range %d: %d bytes, err %v", i, len(b), err)
					}
				}()
			}
			wg.Wait()
			if el, want := time.Since(start), tc.minTime-linkSlack; el < want {
				t.Errorf("took %v, want at least %v", el, want)
			}
			if got := o.Accepted(); got != tc.wantAccepted {
				t.Errorf("accepted %d connections, want %d", got, tc.wantAccepted)
			}
		})
	}
}

// Wrap answers what it handles itself over the same TLS listener, in
// every protocol kind, and passes the rest to the origin, which serves and
// logs it as without a wrapper.
func TestTLSOriginWrap(t *testing.T) {
	t.Parallel()
	for _, kind := range []Protocols{H1Only, H1AndH2, H2Only} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			c := Content{Seed: 5, Size: 64 << 10}
			wrap := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/" {
						io.WriteString(w, "index")
						return
					}
					next.ServeHTTP(w, r)
				})
			}
			o := NewTLS(t, Options{Content: c, Name: "/f.bin"}, TLSOptions{Protocols: kind, Wrap: wrap})
			cl := clientFor(o, true, true)
			for _, tc := range []struct {
				url  string
				want []byte
			}{
				{o.Server.URL + "/", []byte("index")},
				{o.URL(), c.Bytes(0, c.Size)},
			} {
				resp, err := cl.Get(tc.url)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(b, tc.want) {
					t.Fatalf("GET %s: %s, %d bytes, err %v; want 200 with %d bytes", tc.url, resp.Status, len(b), err, len(tc.want))
				}
			}
			if reqs := o.Requests(); len(reqs) != 1 || reqs[0].Path != "/f.bin" {
				t.Fatalf("origin logged %+v, want only the file's GET", reqs)
			}
		})
	}
}
