package store

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"fsm/internal/testorigin"
)

// Failures to reach an origin are said in the user's terms, each naming
// the host once, and the hopeless ones are not retried.
func TestMessagesInUsersTerms(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	tlsO := testorigin.NewTLS(t, testorigin.Options{Content: testorigin.Content{Seed: 1, Size: 10}}, testorigin.TLSOptions{})
	plainHost := strings.TrimPrefix(plain.URL, "http://")
	closed := httptest.NewServer(http.NotFoundHandler())
	closedHost := strings.TrimPrefix(closed.URL, "http://")
	closed.Close() // its port now refuses connections
	tlsHost := strings.TrimPrefix(tlsO.Server.URL, "https://")
	tests := []struct {
		name      string
		url       string
		says      []string
		retriable bool
		is        error
	}{
		{"unresolvable host", "http://no-such-host.invalid/f.bin", []string{"cannot resolve no-such-host.invalid"}, true, errUnresolved},
		{"https to a plain-http port", "https://" + plainHost + "/f.bin", []string{"the origin does not speak TLS", plainHost, "http://"}, false, errNoTLS},
		{"a certificate nobody here trusts", tlsO.URL(), []string{"the certificate of " + tlsHost + " is not trusted", "SSL_CERT_FILE"}, false, errUntrusted},
		{"a port where nothing listens", "http://" + closedHost + "/f.bin", []string{"nothing listens at " + closedHost, "connection refused"}, true, ErrNoAnswer},
		{"no scheme", "example.com/f.bin", []string{"no scheme", "did you mean http://example.com/f.bin?"}, false, ErrBadURL},
	}
	m, err := NewManager(Options{Dir: t.TempDir(), Logger: quietLogger()}) // the default client: system roots only
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Probe(context.Background(), tc.url, nil)
			if err == nil {
				t.Fatal("probe succeeded")
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "did not answer") {
				t.Errorf("%q blames a silent origin", err)
			}
			if !errors.Is(err, tc.is) || retriable(err) != tc.retriable {
				t.Errorf("%q: is %v: %v, retriable %v, want %v", err, tc.is, errors.Is(err, tc.is), retriable(err), tc.retriable)
			}
		})
	}
}
