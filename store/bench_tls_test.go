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
// Go's default one does), from TLS origins that limit each TCP connection
// to 20 MB/s: HTTP/1.1 only, h2 offered, h2 only. Parallel readahead pays
// only when its requests are connections of their own; "origin-conns" is
// how many the origin accepted for the store's read.
//
//	go test -bench TLSPerConnection -benchtime 1x -run '^$' ./store/
func BenchmarkTLSPerConnectionLimit(b *testing.B) {
	size := envInt("FSM_BENCH_MIB", 64) * mib
	for _, kind := range []testorigin.Protocols{testorigin.H1Only, testorigin.H1AndH2, testorigin.H2Only} {
		b.Run(kind.String(), func(b *testing.B) {
			c := testorigin.Content{Seed: 23, Size: size}
			o := testorigin.NewTLS(b, testorigin.Options{Content: c}, testorigin.TLSOptions{Protocols: kind, ConnBytesPerSecond: 20e6})
			roots := x509.NewCertPool()
			roots.AddCert(o.Certificate())
			dtr := http.DefaultTransport.(*http.Transport).Clone()
			dtr.TLSClientConfig = &tls.Config{RootCAs: roots}
			b.Cleanup(dtr.CloseIdleConnections)
			direct := &http.Client{Transport: dtr}
			m, err := NewManager(Options{Dir: b.TempDir(), Client: &http.Client{Transport: tlsTransport(b, o)}, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.Close(context.Background()) })
			_, etag, lm := o.Version()
			var dw, sw time.Duration
			conns := 0
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				resp, err := direct.Get(o.URL())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				dw += time.Since(start)
				before := o.Accepted()
				s, err := m.create(testSource{Name: "bench", URL: o.URL(), Size: size, ETag: etag, LastModified: lm}.split())
				if err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				readAll(b, s, c, 1*mib)
				sw += time.Since(start)
				conns = max(conns, o.Accepted()-before)
				s.close(context.Background())
			}
			b.StopTimer()
			total := size * int64(b.N)
			b.ReportMetric(mbps(total, dw), "direct-MB/s")
			b.ReportMetric(mbps(total, sw), "store-MB/s")
			b.ReportMetric(dw.Seconds()/sw.Seconds(), "x-direct")
			b.ReportMetric(float64(conns), "origin-conns")
		})
	}
}
