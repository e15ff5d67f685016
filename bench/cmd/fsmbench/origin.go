//go:build linux

package main

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fsm/internal/testorigin"
)

// origin is a testorigin served from our own listener with one addition: an
// HTML index at "/" linking the file. rclone's http backend lists a
// directory by parsing such a page, and testorigin answers 404 there.
type origin struct {
	*testorigin.Origin
	srv  *http.Server
	base string // "http://127.0.0.1:PORT/"
	name string // the file's name, fileName unless told otherwise
}

func startOrigin(c testorigin.Content, bytesPerSecond int64) (*origin, error) {
	return startOriginWith(testorigin.Options{Content: c, BytesPerSecond: bytesPerSecond}, fileName, nil)
}

// startOriginWith serves opts' file as /name; wrap, if set, wraps the
// file's handler (e.g. to pace every response through one link).
func startOriginWith(opts testorigin.Options, name string, wrap func(http.Handler) http.Handler) (*origin, error) {
	opts.Name = "/" + name
	o := testorigin.NewServer(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("origin listen: %w", err)
	}
	var file http.Handler = o // testorigin logs and answers everything but the index
	if wrap != nil {
		file = wrap(file)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { serveIndex(w, name) })
	mux.Handle("/", file)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &origin{Origin: o, srv: srv, base: "http://" + ln.Addr().String() + "/", name: name}, nil
}

func serveIndex(w http.ResponseWriter, name string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<html><body><a href=\"%s\">%s</a></body></html>\n", name, name)
}

// fileURL is the file's address on this listener.
func (o *origin) fileURL() string { return o.base + o.name }

// Close wakes throttled handlers first (testorigin's Close), so closing the
// listener never waits on a slow body.
func (o *origin) Close() {
	o.Origin.Close()
	_ = o.srv.Close()
}

// countGETsFrom counts logged GETs whose Range starts at or after from.
func (o *origin) countGETsFrom(from int64) int {
	n := 0
	for _, r := range o.Requests() {
		if r.Method == http.MethodGet && rangeStart(r.Range) >= from {
			n++
		}
	}
	return n
}

// rangeStart returns the first byte a Range header asks for: 0 when absent
// (a plain GET starts at 0), -1 for forms we do not expect (suffix ranges).
func rangeStart(h string) int64 {
	if h == "" {
		return 0
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return -1
	}
	first, _, _ := strings.Cut(spec, "-")
	n, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil {
		return -1
	}
	return n
}
