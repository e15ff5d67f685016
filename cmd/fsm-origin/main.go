// Command fsm-origin serves a folder over HTTP, Range requests included, as
// an origin to try fsm with on one machine:
//
//	go run ./cmd/fsm-origin -rate 20M /tmp/origin
//
// It answers HEAD and GET (whole or Range) with Last-Modified, as origins
// fsm meets do, and can limit its rate so that a download takes long
// enough to watch. It is a tool for trying fsm, not a server to expose.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "listen on `HOST:PORT`")
	rateFlag := flag.String("rate", "0", "send at most this many bytes a second per response, e.g. 20M (0: no limit)")
	verbose := flag.Bool("v", false, "log each request (method, path, range)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: fsm-origin [-addr HOST:PORT] [-rate SIZE] [-v] [DIR]\nServes DIR (default .) over HTTP with Range support.")
		flag.PrintDefaults()
	}
	flag.Parse()
	dir := "."
	switch flag.NArg() {
	case 0:
	case 1:
		dir = flag.Arg(0)
	default:
		flag.Usage()
		os.Exit(2)
	}
	rate, err := humanize.ParseBytes(*rateFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fsm-origin: -rate %q: want a size such as 20M\n", *rateFlag)
		os.Exit(2)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(os.Stderr, "fsm-origin: %s is not a folder\n", dir)
		os.Exit(2)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler(dir, int64(rate), log),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("fsm-origin is serving", "dir", dir, "url", "http://"+*addr+"/", "rate", *rateFlag)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "fsm-origin:", err)
		os.Exit(1)
	}
}

// handler serves dir at rate bytes a second per response (0: no limit),
// logging each request at debug level.
func handler(dir string, rate int64, log *slog.Logger) http.Handler {
	return logged(limited(http.FileServer(http.Dir(dir)), rate), log)
}

// logged writes one line per request at debug level (-v): what fsm asked
// for. By default the terminal the origin shares with fsm stays quiet.
func logged(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "range", r.Header.Get("Range"))
		h.ServeHTTP(w, r)
	})
}

// limited paces each response body to rate bytes a second (no limit for
// 0), so a local download lasts long enough to watch it stream.
func limited(h http.Handler, rate int64) http.Handler {
	if rate <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&pacedWriter{ResponseWriter: w, rate: rate, start: time.Now(), ctx: r.Context()}, r)
	})
}

type pacedWriter struct {
	http.ResponseWriter
	rate  int64
	start time.Time
	sent  int64
	ctx   context.Context
}

// Write sends p in slices of a tenth of a second's bytes, waiting until
// each is due.
func (p *pacedWriter) Write(b []byte) (int, error) {
	var n int
	for len(b) > 0 {
		chunk := min(int64(len(b)), max(p.rate/10, 1))
		due := p.start.Add(time.Duration(float64(p.sent) / float64(p.rate) * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				return n, p.ctx.Err()
			}
		}
		m, err := p.ResponseWriter.Write(b[:chunk])
		n += m
		p.sent += int64(m)
		if err != nil {
			return n, err
		}
		b = b[chunk:]
	}
	return n, nil
}

func (p *pacedWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
