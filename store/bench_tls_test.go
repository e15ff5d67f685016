package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// BenchmarkTLSPerConnectionLimit: a cold sequential read through a store
// against one direct GET (with a client that speaks h2 where offered, as
// Go's default one does), from origins that limit each TCP connection to
// 20 MB/s: plain HTTP, and TLS with HTTP/1.1 only, h2 offered, h2 only. Parallel readahead pays
// only when its requests are connections of their own; "origin-conns" is
// how many the origin accepted for the store's read.
//
//	go test -bench TLSPerConnection -benchtime 1x -run '^$' ./store/
func BenchmarkTLSPerConnectionLimit(b *testing.B) {
	size := envInt("FSM_BENCH_MIB", 128) * mib
	type origin struct {
		o        *testorigin.Origin
		accepted func() int // -1: not counted
		store    *http.Client
		direct   *http.Client
	}
	plain := func(b *testing.B, c testorigin.Content) origin {
		// Plain HTTP/1.1: one response per connection, so the
		// per-response limit is a per-connection one.
		o := testorigin.New(b, testorigin.Options{Content: c, BytesPerSecond: 20e6})
		str := newProtocolTransport(originTransport())
		b.Cleanup(str.CloseIdleConnections)
		return origin{o: o, accepted: func() int { return -1 }, store: &http.Client{Transport: str}, direct: &http.Client{}}
	}
	overTLS := func(kind testorigin.Protocols) func(*testing.B, testorigin.Content) origin {
		return func(b *testing.B, c testorigin.Content) origin {
			o := testorigin.NewTLS(b, testorigin.Options{Content: c}, testorigin.TLSOptions{Protocols: kind, ConnBytesPerSecond: 20e6})
			roots := x509.NewCertPool()
			roots.AddCert(o.Certificate())
			dtr := http.DefaultTransport.(*http.Transport).Clone()
			dtr.TLSClientConfig = &tls.Config{RootCAs: roots}
			b.Cleanup(dtr.CloseIdleConnections)
			return origin{o: o.Origin, accepted: o.Accepted, store: &http.Client{Transport: tlsTransport(b, o)}, direct: &http.Client{Transport: dtr}}
		}
	}
	cases := []struct {
		name  string
		start func(*testing.B, testorigin.Content) origin
	}{
		{"http", plain},
		{"tls-h1", overTLS(testorigin.H1Only)},
		{"tls-h1+h2", overTLS(testorigin.H1AndH2)},
		{"tls-h2-only", overTLS(testorigin.H2Only)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := testorigin.Content{Seed: 23, Size: size}
			o := tc.start(b, c)
			m, err := NewManager(Options{Dir: b.TempDir(), Client: o.store, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.Close(context.Background()) })
			_, etag, lm := o.o.Version()
			var dw, sw time.Duration
			conns := 0
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				resp, err := o.direct.Get(o.o.URL())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				dw += time.Since(start)
				before := o.accepted()
				s, err := m.create(testSource{Name: "bench", URL: o.o.URL(), Size: size, ETag: etag, LastModified: lm}.split())
				if err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				readAll(b, s, c, 1*mib)
				sw += time.Since(start)
				if before >= 0 {
					conns = max(conns, o.accepted()-before)
				}
				s.close(context.Background())
			}
			b.StopTimer()
			total := size * int64(b.N)
			b.ReportMetric(mbps(total, dw), "direct-MB/s")
			b.ReportMetric(mbps(total, sw), "store-MB/s")
			b.ReportMetric(dw.Seconds()/sw.Seconds(), "x-direct")
			if o.accepted() >= 0 {
				b.ReportMetric(float64(conns), "origin-conns")
			}
		})
	}
}
