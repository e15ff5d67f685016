package store

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// Failures to reach an origin, said in the user's terms: what is wrong and
// what to do, not what the network stack saw.

var (
	// errUnresolved: the origin's host name does not resolve.
	errUnresolved = errors.New("cannot resolve")
	// errNoTLS: an https:// URL whose port answers in plain HTTP.
	errNoTLS = errors.New("the origin does not speak TLS")
	// errUntrusted: the origin's certificate is not one this system trusts.
	errUntrusted = errors.New("the origin's certificate is not trusted")
)

// userTermsError is err, from a request to host, in the user's terms, or
// nil when it is none of the failures above.
func userTermsError(host string, err error) error {
	if host == "" {
		host = "the origin"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		name := dns.Name
		if name == "" {
			name = host
		}
		// Still retried: a resolver that lost its network says the same.
		return &termsError{errUnresolved, "cannot resolve " + name}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		// Still an origin that did not answer, and still retried: it
		// may be starting. But the user learns where to look.
		return &termsError{ErrNoAnswer, fmt.Sprintf("nothing listens at %s (connection refused); check that the origin runs and the URL's port is right", host)}
	}
	// net/http recognizes a plain HTTP answer to its handshake and says
	// so in an error of its own words, of no type; other bytes stay a
	// RecordHeaderError.
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return &termsError{errNoTLS, fmt.Sprintf("the origin does not speak TLS: %s answered in plain HTTP; use an http:// URL, or the port where it serves https", host)}
	}
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	var why string
	switch {
	case errors.As(err, &hostname):
		why = hostname.Error()
	case errors.As(err, &invalid):
		why = invalid.Error()
	case errors.As(err, &unknown):
		why = "it is signed by an authority this system does not know"
	case errors.As(err, &verify):
		why = verify.Err.Error()
	default:
		return nil
	}
	return &termsError{errUntrusted, fmt.Sprintf("the certificate of %s is not trusted (%s); to trust a private CA, start fsm with SSL_CERT_FILE set to the CA's PEM file", host, why)}
}

// termsError is a message in the user's terms that errors.Is tells apart
// by its kind.
type termsError struct {
	kind error
	msg  string
}

func (e *termsError) Error() string { return e.msg }
func (e *termsError) Unwrap() error { return e.kind }
