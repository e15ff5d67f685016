package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"fsm/internal/testorigin"
)

// Origins over TLS that limit each TCP connection below TLS, so that every
// HTTP/2 stream on a connection shares its limit (as CDNs and long lossy
// paths do): one that speaks only HTTP/1.1 (S3), one that offers h2 as
// well (CloudFront, Cloudflare, GCS). fsm trusts their test certificate
// through SSL_CERT_FILE, as a user with a private CA would; rclone's http
// backend needs an index page these origins do not serve, so the TLS rows
// compare fsm with a direct download only.

// tlsKinds are the TLS rows: their key prefix and what the origin speaks.
var tlsKinds = []struct {
	key  string
	kind testorigin.Protocols
}{
	{"tls.h1", testorigin.H1Only},
	{"tls.h2", testorigin.H1AndH2},
}

// withTLSOrigin runs f against a fresh TLS origin serving f's file at
// /fileName, with the PEM file of its certificate.
func (h *harness) withTLSOrigin(bf benchFile, kind testorigin.Protocols, f func(o *testorigin.TLSOrigin, pemFile string) error) error {
	o := testorigin.NewTLSServer(testorigin.Options{Content: bf.content, Name: "/" + fileName},
		testorigin.TLSOptions{Protocols: kind, ConnBytesPerSecond: bf.rate})
	defer o.Close()
	pemFile := filepath.Join(h.tmp, fmt.Sprintf("tls-origin-%p.pem", o))
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.Certificate().Raw}), 0o600); err != nil {
		return fmt.Errorf("write the TLS origin's certificate: %w", err)
	}
	defer os.Remove(pemFile)
	return f(o, pemFile)
}

// tlsDirectGET reads f straight from a TLS origin with a client that takes
// h2 where it is offered, as browsers and Go's default client do.
func (h *harness) tlsDirectGET(ctx context.Context, key string, f benchFile, kind testorigin.Protocols) error {
	return h.withTLSOrigin(f, kind, func(o *testorigin.TLSOrigin, _ string) error {
		roots := x509.NewCertPool()
		roots.AddCert(o.Certificate())
		tr := &http.Transport{Proxy: nil, DisableCompression: true, ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: roots}}
		defer tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(ctx, f.transferTimeout())
		defer cancel()
		var sum sumWriter
		c0 := sampleCPU()
		t, err := getWith(ctx, &http.Client{Transport: tr}, o.URL(), &sum)
		if err != nil {
			return err
		}
		busy := busySince(c0)
		if err := sum.check(f.size(), f.crc); err != nil {
			return fmt.Errorf("GET %s: %w", o.URL(), err)
		}
		h.recordTransfer(key, t, busy)
		return nil
	})
}

// tlsFsmGET reads f cold through fsm's WebDAV from a TLS origin, fsm
// trusting the origin's certificate through SSL_CERT_FILE.
func (h *harness) tlsFsmGET(ctx context.Context, key string, f benchFile, kind testorigin.Protocols) error {
	return h.withTLSOrigin(f, kind, func(o *testorigin.TLSOrigin, pemFile string) error {
		env := append(os.Environ(), "SSL_CERT_FILE="+pemFile)
		before := o.Accepted() // the probe's connection too: the download reuses it
		s, err := h.launchEnv(ctx, "fsm", env, func(addr, cache string) []string {
			return []string{h.cfg.fsmBin, "serve", "--addr", addr, "--cache-dir", cache, o.URL()}
		}, "", f.size(), true, fileName)
		if err != nil {
			return err
		}
		err = h.listAndGET(ctx, key, s, f, false)
		h.res.add(key+".conns", float64(o.Accepted()-before))
		return err
	})
}

// getWith is get with the given client and no Range.
func getWith(ctx context.Context, client *http.Client, url string, sink *sumWriter) (transfer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return transfer{}, fmt.Errorf("GET %s: %w", url, err)
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return transfer{}, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return transfer{}, fmt.Errorf("GET %s: status %s, want 200", url, resp.Status)
	}
	res, err := drain(resp.Body, sink, t0)
	if err != nil {
		return res, fmt.Errorf("GET %s: %w", url, err)
	}
	return res, nil
}
