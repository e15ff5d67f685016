// Package guard has the HTTP middleware that stands in front of everything
// fsm serves: a Host header check against DNS rebinding, basic auth with a
// growing delay for wrong credentials, and the refusal of other local
// users' connections (Owner). ConnContext gives them their per-connection
// state.
//
// They guard every request only if the http.Server hands them every
// request: net/http answers "OPTIONS *" itself unless
// Server.DisableGeneralOptionsHandler is set, bypassing them all.
package guard

import (
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Host refuses with 403 every request whose Host header (port stripped) is
// not one fsm answers to: "localhost" (and names under ".localhost", which
// resolve to loopback only), a loopback address (127.0.0.0/8, ::1), the
// listener's own host from listenAddr, or one of allowed (compared without
// case and without a trailing dot; a port on an allowed name is ignored).
//
// This is the DNS rebinding defence: a web page on evil.example whose name
// is re-pointed at 127.0.0.1 reaches the server with Host: evil.example. IP
// literals other than loopback are only accepted when the listener itself
// is bound to that address, or to all addresses (0.0.0.0 or ::): a
// rebinding attack always carries a name, never an address, so an address
// the server can be reached at is safe.
func Host(next http.Handler, allowed []string, listenAddr string) http.Handler {
	names := make(map[string]bool)
	for _, a := range allowed {
		if n := normalize(a); n != "" {
			names[n] = true
		}
	}
	anyAddr := false
	var listenIP netip.Addr
	if host, _, err := net.SplitHostPort(listenAddr); err == nil && host == "" {
		anyAddr = true // ":8080" listens on every address
	} else if h := normalize(listenAddr); h != "" {
		if ip, err := netip.ParseAddr(h); err == nil {
			listenIP = ip.Unmap()
			anyAddr = listenIP.IsUnspecified()
		} else {
			names[h] = true
		}
	}
	ok := func(host string) bool {
		h := normalize(host)
		switch {
		case h == "":
			return false
		case h == "localhost" || strings.HasSuffix(h, ".localhost"):
			return true
		case names[h]:
			return true
		}
		ip, err := netip.ParseAddr(h)
		if err != nil {
			return false
		}
		ip = ip.Unmap()
		return ip.IsLoopback() || anyAddr || ip == listenIP
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok(r.Host) {
			// A page that reached fsm through a foreign name would
			// otherwise keep the connection (and its slot) for more.
			w.Header().Set("Connection", "close")
			deny(w, http.StatusForbidden, "fsm: requests for this host name are refused (DNS rebinding protection); "+
				"if you mean to reach fsm by this name, start it with --host NAME\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// normalize turns "Name.Example.:8080", "[::1]:80", "::1" into the bare,
// lower-case host ("name.example", "::1"); zone identifiers are kept.
func normalize(hostport string) string {
	h := strings.TrimSpace(hostport)
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	return h
}

// BasicAuth requires HTTP basic auth with user and password on every
// request; a missing or wrong one gets 401 with a WWW-Authenticate
// challenge for realm. Both are compared in constant time (over their
// SHA-256, so not even the lengths leak). The right credentials always
// succeed at once; a wrong guess waits a growing, capped delay before its
// 401 (see penalty), keyed to the connection and to the guesses of all
// clients rather than to an address (a request without credentials does
// not count: clients send one first to get the challenge).
func BasicAuth(next http.Handler, user, password, realm string) http.Handler {
	return basicAuth(next, user, password, realm, newPenalty(time.Now, time.Sleep))
}

func basicAuth(next http.Handler, user, password, realm string, pen *penalty) http.Handler {
	wantUser := sha256.Sum256([]byte(user))
	wantPass := sha256.Sum256([]byte(password))
	if realm == "" {
		realm = "fsm"
	}
	challenge := `Basic realm="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(realm) + `", charset="UTF-8"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(u))
		gotPass := sha256.Sum256([]byte(p))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			if ok {
				pen.sleep(pen.fail(stateOf(r.Context())))
			}
			w.Header().Set("WWW-Authenticate", challenge)
			deny(w, http.StatusUnauthorized, "fsm: authentication required\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func deny(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, msg)
}
