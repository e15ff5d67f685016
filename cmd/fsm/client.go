package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"fsm/control/api"
)

// answerTimeout bounds the wait for a server's answer: longer than the
// server's own bound on a staging probe, so its message arrives first, but a
// program on the port that accepts and never answers is not waited for
// forever. The events stream's status line comes at once; its body is not
// bounded.
const answerTimeout = 90 * time.Second

// clientFlags are the flags of every command that talks to a running
// server. The environment variables are the ones `fsm serve` reads, so one
// environment configures both.
type clientFlags struct {
	Server       string `default:"127.0.0.1:8080" env:"FSM_ADDR" aliases:"addr" placeholder:"HOST:PORT" help:"The fsm server to talk to: HOST:PORT or http://HOST:PORT (default 127.0.0.1:8080); --addr is the same flag, as fsm serve names it."`
	Token        string `env:"FSM_TOKEN" help:"Bearer token of the control API (default: read from the token file fsm serve wrote for --server). Shows in ps: prefer --token-file."`
	TokenFile    string `env:"FSM_TOKEN_FILE" type:"path" placeholder:"FILE" help:"File holding the bearer token (its first line), instead of --token."`
	User         string `env:"FSM_USER" and:"auth" help:"HTTP basic auth user, when the server was started with --user."`
	PasswordFile string `env:"FSM_PASSWORD_FILE" type:"path" and:"auth" placeholder:"FILE" help:"File holding the basic auth password."`
}

// apiClient talks to one fsm server's control API.
type apiClient struct {
	addr     string // HOST:PORT, for messages and the token file
	base     string // scheme://HOST:PORT
	user     string
	password string
	http     *http.Client

	token token
}

// token is the bearer token and where it came from, so a 401 can say what
// was tried and each connection can be checked against the server that
// wrote it.
type token struct {
	value string
	file  string // the file it was read from, or the file looked for when value is ""
	pid   int    // the pid of the fsm that wrote file; 0 when not known
	addr  string // the address that fsm listens on; "" when not known
}

// connect checks the flags and returns a client for the server they name.
// Bad flags are usage errors (exit status 2).
func (f *clientFlags) connect() (*apiClient, error) {
	base, addr, err := serverURL(f.Server)
	if err != nil {
		return nil, usageError(fmt.Errorf("--server: %w", err))
	}
	c := &apiClient{addr: addr, base: base, user: f.User}
	// --user without --password-file (and the reverse) is kong's to refuse:
	// they are one and:"auth" group.
	if f.PasswordFile != "" {
		b, err := os.ReadFile(f.PasswordFile)
		if err != nil {
			return nil, usageError(fmt.Errorf("--password-file: %w", err))
		}
		c.password = strings.TrimRight(string(b), "\r\n")
	}
	switch {
	case f.Token != "" && f.TokenFile != "":
		// Not a kong xor group: that would also refuse an empty FSM_TOKEN=
		// beside a token file.
		return nil, usageError(errBothTokens)
	case f.Token != "":
		c.token = token{value: f.Token}
	case f.TokenFile != "":
		r, err := readTokenFile(f.TokenFile, false)
		if err != nil {
			return nil, usageError(fmt.Errorf("--token-file: %w", err))
		}
		c.token = token{value: r.token, file: f.TokenFile, pid: r.pid, addr: r.addr}
	default:
		c.token = findToken(addr)
		// Found under another loopback name: talk to the address that
		// server listens on, never send its token to another one.
		if a := c.token.addr; a != "" && a != addr && dialable(a) {
			c.base = strings.Replace(c.base, addr, a, 1)
			c.addr = a
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = answerTimeout
	// Every connection is checked before anything is sent on it.
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		if err := c.verify(conn); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
	c.http = &http.Client{Transport: tr}
	return c, nil
}

// dialable reports whether addr names one address to connect to, not a
// listen-on-everything one (0.0.0.0:8080, [::]:8080).
func dialable(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsUnspecified()
}

// serverURL turns HOST:PORT, http://HOST:PORT or https://HOST:PORT (a
// trailing slash allowed) into the base URL and the HOST:PORT to dial.
func serverURL(s string) (base, addr string, err error) {
	scheme, rest := "http", s
	if i := strings.Index(s, "://"); i >= 0 {
		u, err := url.Parse(s)
		if err != nil {
			return "", "", fmt.Errorf("%q: %w", s, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", "", fmt.Errorf("%q: want HOST:PORT or http://HOST:PORT", s)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return "", "", fmt.Errorf("%q: give the server's address only, without a path, query or user", s)
		}
		scheme, rest = u.Scheme, u.Host
		if u.Port() == "" {
			rest = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
		}
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || port == "" {
		return "", "", fmt.Errorf("%q: want HOST:PORT or http://HOST:PORT", s)
	}
	// FSM_ADDR is fsm serve's listen address too: one that listens on every
	// interface (":8080", "0.0.0.0:8080") is reached on loopback.
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	addr = net.JoinHostPort(host, port)
	return scheme + "://" + addr, addr, nil
}

// tokenFile is the file that the server listening on addr (HOST:PORT) keeps
// its control API token in, and where the CLI looks for it:
// <user cache dir>/fsm/tokens/<host>_<port>. The host is lower-cased, an IP
// address written in its canonical form, IPv6 brackets dropped and every
// ':' replaced by '_', so the name is valid on every file system:
// 127.0.0.1:8080 → 127.0.0.1_8080, [::1]:8080 → __1_8080,
// localhost:8080 → localhost_8080.
func tokenFile(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("token file for %q: %w", addr, err)
	}
	host = strings.ToLower(host)
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	}
	if host == "" || port == "" || strings.ContainsAny(host+port, `/\`) || strings.HasPrefix(host, ".") {
		return "", fmt.Errorf("token file for %q: not a HOST:PORT address", addr)
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("token file for %s: %w", addr, err)
	}
	name := strings.ReplaceAll(host+"_"+port, ":", "_")
	return filepath.Join(dir, "fsm", "tokens", name), nil
}

// findToken reads the token of the server at addr. A loopback server may
// have been started under another name for the same interface (localhost
// versus 127.0.0.1) or on every interface (0.0.0.0, ::), so those token
// files are tried after the exact one. It returns an empty value, with the
// exact file's path, when there is none.
func findToken(addr string) token {
	first, err := tokenFile(addr)
	if err != nil {
		return token{}
	}
	for _, a := range tokenCandidates(addr) {
		p, err := tokenFile(a)
		if err != nil {
			continue
		}
		// A file that is not this user's own, or a link, is not one fsm
		// serve wrote: skipped, like a missing one.
		if r, err := readTokenFile(p, true); err == nil {
			return token{value: r.token, file: p, pid: r.pid, addr: r.addr}
		}
	}
	return token{file: first}
}

func tokenCandidates(addr string) []string {
	out := []string{addr}
	host, port, _ := net.SplitHostPort(addr)
	if !isLoopback(host) {
		return out
	}
	for _, h := range []string{"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"} {
		if a := net.JoinHostPort(h, port); a != addr {
			out = append(out, a)
		}
	}
	return out
}

// errInterrupted is what a request cut short by Ctrl-C reports.
var errInterrupted = errors.New("interrupted")

// apiError is an answer of the control API other than success.
type apiError struct {
	status  int
	code    api.Code // what the CLI branches on; "" when not fsm's answer
	message string   // the server's one-line reason
}

func (e *apiError) Error() string { return e.message }

// do sends one request and decodes a JSON answer into out (when out is not
// nil). Failures come back as one line fit for the user: no server, the
// server's {"error"} message, or what else answered.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("the fsm server at %s sent a reply that is not the expected JSON: %w", c.addr, err)
	}
	return nil
}

// raw returns the body of a successful GET as it came.
func (c *apiClient) raw(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read the answer of the fsm server at %s: %w", c.addr, err)
	}
	return b, nil
}

// send sends one request and returns a 2xx response, whose body the caller
// closes.
func (c *apiClient) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	if c.token.value == "" && method != http.MethodGet {
		// fsm refuses a change without its token before it reads the
		// body, so the body (a URL with its signature, header values)
		// stays here: the 401 says the same, and a program on the port
		// that is not fsm learns nothing.
		body = nil
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+api.Base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("request %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case c.token.value == "" || method == http.MethodGet:
	case c.user != "":
		// Authorization carries the basic auth credentials.
		req.Header.Set(api.TokenHeader, c.token.value)
	default:
		req.Header.Set("Authorization", "Bearer "+c.token.value)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, c.statusError(resp)
}

func (c *apiClient) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	var stranger *strangerError
	if errors.As(err, &stranger) {
		return stranger
	}
	// Refused, or (on Windows, where the errno differs) any failed dial.
	var op *net.OpError
	if refused := errors.Is(err, syscall.ECONNREFUSED); refused || errors.As(err, &op) && op.Op == "dial" {
		start := "fsm serve"
		if c.addr != "127.0.0.1:8080" {
			start += " --addr " + c.addr
		}
		why := ""
		if !refused {
			why = " (" + op.Err.Error() + ")"
		}
		if others := otherServers(c.addr); len(others) > 0 {
			return fmt.Errorf("no fsm server answers at %s%s, but one runs at %s: use --server %s (or FSM_ADDR=%s)", c.addr, why, strings.Join(others, ", "), others[0], others[0])
		}
		return fmt.Errorf("no fsm server answers at %s%s; start one with `%s` (or point --server or FSM_ADDR at yours)", c.addr, why, start)
	}
	return fmt.Errorf("cannot reach the fsm server at %s: %w", c.addr, err)
}

// statusError turns a refusal into the server's own message, with what to
// do about a missing token or password added.
func (c *apiClient) statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e api.Error
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		if resp.StatusCode == http.StatusUnauthorized && strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			if c.user != "" {
				return &apiError{resp.StatusCode, "", fmt.Sprintf("the fsm server at %s rejected the credentials of user %q: check --user and the password in --password-file", c.addr, c.user)}
			}
			return &apiError{resp.StatusCode, "", fmt.Sprintf("the fsm server at %s wants a user and password: give --user and --password-file (or FSM_USER and FSM_PASSWORD_FILE)", c.addr)}
		}
		// net/http's own answer to plain HTTP on a TLS listener: an fsm
		// started with --tls-cert.
		if resp.StatusCode == http.StatusBadRequest && strings.HasPrefix(c.base, "http://") && bytes.Contains(b, []byte("HTTP request to an HTTPS server")) {
			return &apiError{resp.StatusCode, "", fmt.Sprintf("the server at %s speaks HTTPS: use --server https://%s", c.addr, c.addr)}
		}
		// Not fsm's control API: another program, or an fsm too old to have one.
		return &apiError{resp.StatusCode, "", fmt.Sprintf("the server at %s answered %s, not as an fsm control API (another program on that port, or an older fsm?)", c.addr, resp.Status)}
	}
	msg := firstLine(e.Error)
	if e.Code == api.CodeUnauth {
		switch {
		case c.token.value == "" && c.token.file != "":
			msg += fmt.Sprintf(" (no token file %s: give --token or FSM_TOKEN)", c.token.file)
		case c.token.file != "":
			msg += fmt.Sprintf(" (the token in %s is not this server's: give --token or FSM_TOKEN)", c.token.file)
		default:
			msg += " (check --token or FSM_TOKEN)"
		}
	}
	return &apiError{resp.StatusCode, e.Code, msg}
}

// opError puts what the CLI was doing in front of the server's message,
// unless the server's message starts with it already.
func opError(op, operand string, err error) error {
	if strings.HasPrefix(err.Error(), op+" ") {
		return err
	}
	return fmt.Errorf("%s %s: %w", op, operand, err)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// fileInfo is the API's file object.
type fileInfo = api.File

// event is one server-sent event of GET events.
type event struct {
	kind string // "file" or "removed"
	data []byte
}

// readEvents parses a text/event-stream and calls fn for each event; it
// returns fn's error, or the reader's (io.EOF when the stream ended).
func readEvents(r io.Reader, fn func(event) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var ev event
	var data [][]byte
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if len(data) > 0 {
				ev.data = bytes.Join(data, []byte("\n"))
				if ev.kind == "" {
					ev.kind = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = event{}, nil
		case line[0] == ':': // a comment: keepalive
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				ev.kind = string(value)
			case "data":
				data = append(data, value)
			}
		}
	}
}

// batch sums up a command that acts on several operands: each failure is
// its own line on stderr, and the command fails with one line.
type batch struct {
	total  int
	what   string // "sources not staged"
	failed int
	last   error
}

func (b *batch) fail(err error) {
	b.failed++
	b.last = err
	if b.total > 1 {
		fmt.Fprintln(os.Stderr, "fsm:", err)
	}
}

// result is nil when nothing failed, the one error of a single operand,
// else a count.
func (b *batch) result() error {
	switch {
	case b.failed == 0:
		return nil
	case b.total == 1:
		return b.last
	}
	return fmt.Errorf("%d of %d %s", b.failed, b.total, b.what)
}

// perName runs op for each NAME of the client command cmd (unstage, retry),
// in order, over one connection: a NAME that names nothing is a usage error
// before anything is sent; an answer of the server that refuses one NAME is
// that NAME's failure, reported as "cmd NAME: ..." (the others go on), and
// several failures are counted as what ("names not unstaged"); any other
// error ends the run as it is.
func perName(cf *clientFlags, cmd, what string, names []string, op func(ctx context.Context, cl *apiClient, name string) error) error {
	for _, name := range names {
		if strings.Trim(name, "/") == "" {
			return usageError(fmt.Errorf("NAME %q names no file: give a name as fsm ls shows it", name))
		}
	}
	cl, err := cf.connect()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := batch{total: len(names), what: what}
	for _, name := range names {
		err := op(ctx, cl, name)
		var ae *apiError
		if err != nil && !errors.As(err, &ae) {
			return err
		}
		if err != nil {
			b.fail(opError(cmd, name, err))
		}
	}
	return b.result()
}
