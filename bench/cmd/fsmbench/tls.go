//go:build linux

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
// well (CloudFront, Cloudflare, GCS), one that speaks only h2. The same
// origins unlimited measure what TLS costs: throughput and CPU per GiB
// next to curl's download into a file (tlscpu.go). fsm trusts their test
// certificate through SSL_CERT_FILE, as a user with a private CA would,
// rclone through --ca-cert; the origins answer "/" with the same one-link
// index as the plain ones (origin.go) for rclone's http backend.

// tlsKind is one TLS origin kind of the report: its key prefix, what the
// origin speaks and how the scenario names say it.
type tlsKind struct {
	key   string
	kind  testorigin.Protocols
	label string
}

var (
	tlsH1     = tlsKind{"tls.h1", testorigin.H1Only, "HTTP/1.1"}
	tlsH2     = tlsKind{"tls.h2", testorigin.H1AndH2, "HTTP/2"}
	tlsH2Only = tlsKind{"tls.h2only", testorigin.H2Only, "h2-only"}
)

// tlsScenarios are the TLS rows: every kind limited per connection (the
// throttled file), and the HTTP/1.1 and h2-offering origins unlimited (the
// -size file), with curl's download and fsm's download alone for the CPU
// goal. Every name says TLS, so -only TLS runs them all.
func (h *harness) tlsScenarios() []scenario {
	var out []scenario
	for _, k := range []tlsKind{tlsH1, tlsH2, tlsH2Only} {
		out = append(out,
			scenario{name: "throttled TLS " + k.label + " direct GET", throttled: true, run: func(ctx context.Context) error {
				return h.tlsDirectGET(ctx, k.key+".direct", h.thr, k.kind)
			}},
			scenario{name: "throttled TLS " + k.label + " fsm WebDAV GET", throttled: true, run: func(ctx context.Context) error {
				return h.tlsFsmGET(ctx, k.key+".fsm", h.thr, k.kind)
			}},
			scenario{name: "throttled TLS " + k.label + " rclone WebDAV GET", throttled: true, run: func(ctx context.Context) error {
				return h.tlsRcloneGET(ctx, k.key+".rclone", h.thr, k.kind)
			}})
	}
	for _, k := range []tlsKind{tlsH1, tlsH2} {
		out = append(out,
			scenario{name: "unlimited TLS " + k.label + " direct GET", run: func(ctx context.Context) error {
				return h.tlsDirectGET(ctx, k.key+".unl.direct", h.big, k.kind)
			}},
			scenario{name: "unlimited TLS " + k.label + " fsm WebDAV GET", run: func(ctx context.Context) error {
				return h.tlsFsmGET(ctx, k.key+".unl.fsm", h.big, k.kind)
			}},
			scenario{name: "unlimited TLS " + k.label + " rclone WebDAV GET", run: func(ctx context.Context) error {
				return h.tlsRcloneGET(ctx, k.key+".unl.rclone", h.big, k.kind)
			}},
			scenario{name: "unlimited TLS " + k.label + " curl download", run: func(ctx context.Context) error {
				return h.tlsCurl(ctx, k.key+".curl", h.big, k.kind, curlFile)
			}},
			scenario{name: "unlimited TLS " + k.label + " curl into a pipe", run: func(ctx context.Context) error {
				return h.tlsCurl(ctx, k.key+".curlpipe", h.big, k.kind, curlPipe)
			}},
			scenario{name: "unlimited TLS " + k.label + " fsm download alone", run: func(ctx context.Context) error {
				return h.tlsFsmDownload(ctx, k.key+".fsm", h.big, k.kind)
			}})
	}
	return out
}

// withTLSOrigin runs f against a fresh TLS origin serving f's file at
// /fileName and an index of it at "/", with the PEM file of its
// certificate.
func (h *harness) withTLSOrigin(bf benchFile, kind testorigin.Protocols, f func(o *testorigin.TLSOrigin, pemFile string) error) error {
	o := testorigin.NewTLSServer(testorigin.Options{Content: bf.content, Name: "/" + fileName},
		testorigin.TLSOptions{Protocols: kind, ConnBytesPerSecond: bf.rate, Wrap: withIndex})
	defer o.Close()
	pemFile := filepath.Join(h.tmp, fmt.Sprintf("tls-origin-%p.pem", o))
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.Certificate().Raw}), 0o600); err != nil {
		return fmt.Errorf("write the TLS origin's certificate: %w", err)
	}
	defer os.Remove(pemFile)
	return f(o, pemFile)
}

// withIndex answers "/" with the one-link index rclone's http backend
// lists, as the plain origins do, and passes everything else on.
func withIndex(file http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { serveIndex(w, fileName) })
	mux.Handle("/", file)
	return mux
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
		before := o.Accepted() // the probe's connection too: the download reuses it
		s, err := h.startTLSFsm(ctx, o, pemFile)
		if err != nil {
			return err
		}
		err = h.listAndGET(ctx, key, s, f, false)
		h.res.add(key+".conns", float64(o.Accepted()-before))
		return err
	})
}

// startTLSFsm runs `fsm serve` on o's file, trusting o's certificate
// through SSL_CERT_FILE, and waits until the file is staged.
func (h *harness) startTLSFsm(ctx context.Context, o *testorigin.TLSOrigin, pemFile string) (*server, error) {
	env := append(os.Environ(), "SSL_CERT_FILE="+pemFile)
	return h.launchEnv(ctx, "fsm", env, func(addr, cache string) []string {
		return []string{h.cfg.fsmBin, "serve", "--addr", addr, "--cache-dir", cache, o.URL()}
	}, "", 0, true, fileName)
}

// tlsRcloneGET reads f cold through `rclone serve webdav
// --vfs-cache-mode full` on a TLS origin whose certificate rclone trusts
// through --ca-cert.
func (h *harness) tlsRcloneGET(ctx context.Context, key string, f benchFile, kind testorigin.Protocols) error {
	if h.cfg.rclone == "" {
		h.skip(key, "rclone not installed")
		return nil
	}
	return h.withTLSOrigin(f, kind, func(o *testorigin.TLSOrigin, pemFile string) error {
		before := o.Accepted()
		s, err := h.launch(ctx, "rclone", func(addr, cache string) []string {
			argv := []string{h.cfg.rclone, "serve", "webdav", ":http:", "--addr", addr, "--ca-cert", pemFile}
			return append(argv, h.rcloneArgs(o.Server.URL+"/", cache)...)
		}, "", 0, true)
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

// tlsNote is the report's footnote on the unlimited TLS rows.
const tlsNote = "⁷ The TLS origins without a limit, serving the file of the unthrottled rows. curl: `curl --cacert PEM -o FILE URL`\n" +
	"into a file on the filesystem of fsm's cache (the harness's temp dir), its CPU (user+sys) from its rusage; it takes\n" +
	"h2 where the origin offers it. curl into a pipe: the same with `-o -` into the harness, which checks the bytes:\n" +
	"what the download costs without a filesystem. fsm's download alone: `fsm serve` on the origin, a 1-byte ranged GET\n" +
	"through WebDAV starts the whole background download, the API is polled until the file is complete; fsm's CPU\n" +
	"between the two (`/proc/PID/stat`) per GiB, its MB/s from the read to complete, then a warm GET checks every\n" +
	"byte. \"vs direct\" on those rows is against curl; the protocol is what curl reports and what fsm's API says.\n"
