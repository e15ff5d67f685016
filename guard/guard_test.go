package guard

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusTeapot)
})

func TestHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		listen  string
		allowed []string
		host    string
		want    int
	}{
		{"localhost", "127.0.0.1:8080", nil, "localhost:8080", http.StatusTeapot},
		{"localhost no port", "127.0.0.1:8080", nil, "localhost", http.StatusTeapot},
		{"localhost upper case, trailing dot", "127.0.0.1:8080", nil, "LocalHost.:8080", http.StatusTeapot},
		{"name under .localhost", "127.0.0.1:8080", nil, "fsm.localhost:8080", http.StatusTeapot},
		{"127.0.0.1", "127.0.0.1:8080", nil, "127.0.0.1:8080", http.StatusTeapot},
		{"other 127/8 address", "127.0.0.1:8080", nil, "127.1.2.3:8080", http.StatusTeapot},
		{"::1 bracketed with port", "127.0.0.1:8080", nil, "[::1]:8080", http.StatusTeapot},
		{"::1 bracketed without port", "[::1]:8080", nil, "[::1]", http.StatusTeapot},
		{"v4-mapped loopback", "127.0.0.1:8080", nil, "[::ffff:127.0.0.1]:8080", http.StatusTeapot},
		{"rebinding name", "127.0.0.1:8080", nil, "evil.example:8080", http.StatusForbidden},
		{"rebinding name no port", "127.0.0.1:8080", nil, "evil.example", http.StatusForbidden},
		{"localhost as a prefix only", "127.0.0.1:8080", nil, "localhost.evil.example", http.StatusForbidden},
		{"empty host", "127.0.0.1:8080", nil, "", http.StatusForbidden},
		{"LAN address while on loopback", "127.0.0.1:8080", nil, "192.168.1.5:8080", http.StatusForbidden},
		{"user name", "127.0.0.1:8080", []string{"nas.example"}, "NAS.example:8080", http.StatusTeapot},
		{"user name given with port", "127.0.0.1:8080", []string{"nas.example:9999"}, "nas.example", http.StatusTeapot},
		{"user name with trailing dot", "127.0.0.1:8080", []string{"nas.example."}, "nas.example", http.StatusTeapot},
		{"another name than the user's", "127.0.0.1:8080", []string{"nas.example"}, "nas.example.evil", http.StatusForbidden},
		{"listener's own name", "mybox.lan:8080", nil, "mybox.lan:8080", http.StatusTeapot},
		{"listener's own address", "192.168.1.5:8080", nil, "192.168.1.5:8080", http.StatusTeapot},
		{"other address than the listener's", "192.168.1.5:8080", nil, "192.168.1.6:8080", http.StatusForbidden},
		{"any address on 0.0.0.0", "0.0.0.0:8080", nil, "10.1.2.3:8080", http.StatusTeapot},
		{"any address on [::]", "[::]:8080", nil, "[fe80::1]:8080", http.StatusTeapot},
		{"any address on :8080", ":8080", nil, "10.1.2.3:8080", http.StatusTeapot},
		{"names still refused on 0.0.0.0", "0.0.0.0:8080", nil, "evil.example:8080", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Host(okHandler, tt.allowed, tt.listen)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Host = tt.host
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("Host %q (listen %q, allowed %q): got %d, want %d", tt.host, tt.listen, tt.allowed, w.Code, tt.want)
			}
			if w.Code == http.StatusForbidden && !strings.Contains(w.Body.String(), "--host") {
				t.Errorf("403 body does not say how to allow the name: %q", w.Body.String())
			}
		})
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		user, pass string
		noAuth     bool
		header     string // raw Authorization, overrides user/pass
		want       int
	}{
		{name: "right", user: "alice", pass: "s3cret", want: http.StatusTeapot},
		{name: "wrong password", user: "alice", pass: "s3cret!", want: http.StatusUnauthorized},
		{name: "wrong user", user: "bob", pass: "s3cret", want: http.StatusUnauthorized},
		{name: "empty password", user: "alice", pass: "", want: http.StatusUnauthorized},
		{name: "prefix of password", user: "alice", pass: "s3c", want: http.StatusUnauthorized},
		{name: "no credentials", noAuth: true, want: http.StatusUnauthorized},
		{name: "bearer instead", header: "Bearer abc", want: http.StatusUnauthorized},
		{name: "garbage base64", header: "Basic !!!", want: http.StatusUnauthorized},
		{name: "user case matters", user: "Alice", pass: "s3cret", want: http.StatusUnauthorized},
	}
	h := BasicAuth(okHandler, "alice", "s3cret", `my "realm"`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("PROPFIND", "/", nil)
			switch {
			case tt.header != "":
				r.Header.Set("Authorization", tt.header)
			case !tt.noAuth:
				r.SetBasicAuth(tt.user, tt.pass)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("got %d, want %d", w.Code, tt.want)
			}
			if w.Code == http.StatusUnauthorized {
				got := w.Header().Get("WWW-Authenticate")
				if want := `Basic realm="my \"realm\"", charset="UTF-8"`; got != want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestBasicAuthDefaultRealm(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	BasicAuth(okHandler, "u", "p", "").ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="fsm"`) {
		t.Errorf("WWW-Authenticate = %q", got)
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Example.COM:80": "example.com",
		"example.com.":   "example.com",
		"[::1]:8080":     "::1",
		"[::1]":          "::1",
		"::1":            "::1",
		"127.0.0.1":      "127.0.0.1",
		" localhost ":    "localhost",
		"":               "",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHostRefusalCloses: after a Host-check refusal the server closes the
// connection, so a page that reached fsm by a foreign name cannot keep it.
func TestHostRefusalCloses(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = Host(okHandler, nil, srv.Listener.Addr().String())
	srv.Start()
	defer srv.Close()
	for _, c := range []struct {
		host       string
		want       int
		wantClosed bool
	}{
		{"evil.example", http.StatusForbidden, true},
		{"localhost", http.StatusTeapot, false},
	} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", c.host)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Host %s: %d, want %d", c.host, resp.StatusCode, c.want)
		}
		if got := resp.Close; got != c.wantClosed {
			t.Errorf("Host %s: Connection: close is %v, want %v", c.host, got, c.wantClosed)
		}
		if c.wantClosed {
			// The server's end: EOF, not a connection waiting for more.
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("Host %s: after the answer, read gave %v, want EOF", c.host, err)
			}
		}
		conn.Close()
	}
}
