package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their files and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fsm test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile, pool
}

// With --tls-cert and --tls-key the listener speaks HTTPS: a TLS client
// that trusts the certificate reads a file (Range included) and the API,
// with basic auth, and a plain HTTP request gets no file.
func TestServeTLS(t *testing.T) {
	c := testorigin.Content{Seed: 32, Size: 300 << 10}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/t.bin"})
	certFile, keyFile, pool := selfSigned(t)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	e := newCLIEnv(t)
	s, addr := serveIn(t, e, "--tls-cert", certFile, "--tls-key", keyFile, "--user", "u", "--password-file", pw, o.URL())
	if !strings.HasPrefix(s.url, "https://127.0.0.1:") {
		t.Fatalf("serving at %s, want https://", s.url)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	do := func(url, rangeHdr string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.SetBasicAuth("u", "s3cret")
		if rangeHdr != "" {
			req.Header.Set("Range", rangeHdr)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s over TLS: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.TLS == nil {
			t.Fatalf("GET %s: answered without TLS", url)
		}
		return resp, b
	}
	if resp, _ := do(s.url+".fsm/api/v1/files", ""); resp.StatusCode != 200 {
		t.Fatalf("API over TLS: %s", resp.Status)
	}
	var resp *http.Response
	var body []byte
	// Staged in the background: the file appears after its probe.
	fsmtest.Eventually(t, "t.bin over TLS", func() bool {
		resp, body = do(s.url+"t.bin", "bytes=1000-1999")
		return resp.StatusCode != 404
	})
	if resp.StatusCode != 206 || !bytes.Equal(body, c.Bytes(1000, 1000)) {
		t.Fatalf("range GET over TLS: %s", resp.Status)
	}
	plain, err := http.Get("http://" + strings.TrimPrefix(s.url, "https://") + "t.bin")
	if err == nil {
		b, _ := io.ReadAll(plain.Body)
		plain.Body.Close()
		if bytes.Contains(b, c.Bytes(0, 100)) || plain.StatusCode/100 == 2 {
			t.Errorf("plain HTTP served the file: %s", plain.Status)
		}
	}
	// The CLI over HTTPS, trusting the certificate as a system root
	// (SSL_CERT_FILE is where Go looks on Linux), and refusing the
	// connection without it.
	creds := []string{"FSM_USER=u", "FSM_PASSWORD_FILE=" + pw}
	if r := e.fsm(t, addr, append(creds, "SSL_CERT_FILE="+certFile), "ls", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"name":"t.bin"`) {
		t.Errorf("fsm ls over HTTPS:\n%s", r)
	}
	if r := e.fsm(t, addr, append(creds, "SSL_CERT_FILE="+junkFile(t)), "ls", "--json"); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("fsm ls over HTTPS with an untrusted certificate:\n%s", r)
	}
	plainAddr := "http://" + strings.TrimPrefix(addr, "https://")
	if r := e.fsm(t, plainAddr, creds, "ls"); r.code != 1 || !strings.Contains(r.stderr, "speaks HTTPS: use --server https://"+strings.TrimPrefix(addr, "https://")) {
		t.Errorf("fsm ls over plain HTTP to the TLS listener:\n%s", r)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, s.log)
	}
}

func junkFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "none.pem")
	os.WriteFile(p, nil, 0o600)
	return p
}

// Half a key pair, or files that are not one, are refused before serving.
func TestServeTLSRefused(t *testing.T) {
	certFile, _, _ := selfSigned(t)
	junk := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(junk, []byte("not pem"), 0o600)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"cert only", []string{"--tls-cert", certFile}, "--tls-cert and --tls-key go together"},
		{"not a key", []string{"--tls-cert", certFile, "--tls-key", junk}, "not a PEM certificate and its private key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runSplit(t, bin, "", nil, append([]string{"serve", "--addr", "127.0.0.1:0", "--cache-dir", t.TempDir()}, c.args...)...)
			if code != 2 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d (want 2), stderr should say %q:\n%s", code, c.want, stderr)
			}
		})
	}
}
