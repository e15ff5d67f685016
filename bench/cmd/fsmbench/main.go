//go:build linux

// Command fsmbench is a whole-program benchmark of fsm on loopback: the real
// `fsm serve` binary next to the direct origin and rclone, in one run. It
// measures cold WebDAV GETs (throughput, first byte, CPU per GiB, RSS), a far
// read during a download, cold FUSE reads against rclone mount, an origin
// that limits each connection, 64 concurrent random-range readers, thousands
// of staged files (descriptors, RSS, PROPFIND), a FUSE read while reads wait
// on a stalled origin, an upload from a mounted path while it downloads
// (against download-then-upload, with a plot), the transfers over TLS
// (three kinds of origin, limited per connection and not, with curl's
// download as the floor of TLS's CPU cost), and a 1 TiB file read through
// a 2 GiB cache. docs/BENCH.md describes each.
//
// Every transfer is checked against the origin's content. It writes a
// Markdown page (-out) judged against a goals table (goals.tsv). Missed
// goals are reported, not fatal; harness failures (wrong bytes, a server
// that does not start) exit non-zero.
//
// Linux only: it relies on process groups, Pdeathsig and /proc.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

type config struct {
	size     int64
	out      string
	fsmBin   string // plain build; built on the fly when empty
	fuseBin  string // -tags fuse,fuse3 build; built on the fly when empty
	fuseSkip string // skip the FUSE part with this reason
	rclone   string
	farRate  int64
	runs     int
	thrSize  int64 // file size for the throttled scenarios
	thrRate  int64 // their origin's rate per connection, bytes/s
	thrRuns  int   // rounds that include them (the first thrRuns)
	timeout  time.Duration
	keep     bool
	files    int    // small files staged at once in the many-files scenario
	upSize   int64  // file size for the upload scenario
	upRate   int64  // its download and upload link rates, bytes/s
	goals    string // goals table file; "" for the built-in one
	plot     string // PNG of the upload's bytes over time; "" for none
	bigRead  int64  // bytes read sequentially from the 1 TiB file (bigger.go)
	only     *regexp.Regexp
}

func parseFlags() (config, error) {
	var c config
	var size string
	var quick bool
	var thrSize, upSize, bigRead string
	flag.StringVar(&size, "size", "1GiB", "file size: 1GiB = 2^30 bytes, 1G = 10^9")
	flag.StringVar(&thrSize, "throttled-size", "128MiB", "file size for the per-connection-limited origin (at most -size)")
	flag.StringVar(&upSize, "upload-size", "60MB", "file size for the upload scenario")
	flag.StringVar(&bigRead, "bigger-read", "8GiB", "sequential read from the 1 TiB file streamed through a 2 GiB cache (about 2 min on 2 cores; -quick: 1GiB)")
	flag.BoolVar(&quick, "quick", false, "smoke run: 256 MiB file, 32 MiB throttled, 24 MB upload, 1 GiB bigger read, 1000 small files, 1 round (overrides those flags)")
	flag.IntVar(&c.files, "files", 5000, "small files staged at once from one origin")
	flag.Int64Var(&c.upRate, "upload-rate", 30_000_000, "download and upload link rate in bytes/s for the upload scenario")
	flag.StringVar(&c.goals, "goals", "", "goals table (default: the built-in goals.tsv)")
	flag.StringVar(&c.plot, "plot", "bench/results/upload.png", "write the upload plot (PNG) here; empty: no plot")
	flag.StringVar(&c.out, "out", "bench/results/BENCHMARKS.md", "also write the Markdown report here")
	flag.StringVar(&c.fsmBin, "fsm", "", "fsm binary (default: go build ./cmd/fsm into the temp dir)")
	flag.StringVar(&c.fuseBin, "fsm-fuse", "", "fsm binary built with -tags fuse,fuse3 (default: try to build one)")
	flag.StringVar(&c.fuseSkip, "fuse-skip", "", "skip the FUSE scenario, reporting this reason")
	flag.StringVar(&c.rclone, "rclone", "rclone", "rclone binary for the baselines")
	flag.Int64Var(&c.farRate, "far-rate", 20_000_000, "per-connection origin rate in bytes/s for the far-read scenario")
	flag.IntVar(&c.runs, "runs", 3, "rounds of all scenarios (interleaved); the table shows the median")
	flag.Int64Var(&c.thrRate, "throttle-rate", 20_000_000, "per-connection origin rate in bytes/s for the throttled whole-file scenarios")
	flag.IntVar(&c.thrRuns, "throttled-runs", 0, "rounds that include the throttled whole-file scenarios (0: all -runs)")
	flag.DurationVar(&c.timeout, "timeout", 20*time.Minute, "hard limit for the whole run")
	flag.BoolVar(&c.keep, "keep", false, "keep the temp dir (server logs, caches) for inspection")
	var only string
	flag.StringVar(&only, "only", "", "run only the scenarios whose name matches this regexp (e.g. 'upload|stall')")
	flag.Parse()
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return c, fmt.Errorf("-only: %w", err)
		}
		c.only = re
	}
	if flag.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if quick {
		size, thrSize, upSize, bigRead = "256MiB", "32MiB", "24MB", "1GiB"
		c.files, c.runs = 1000, 1
	}
	n, err := parseSize(size)
	if err != nil {
		return c, fmt.Errorf("-size: %w", err)
	}
	if c.thrSize, err = parseSize(thrSize); err != nil {
		return c, fmt.Errorf("-throttled-size: %w", err)
	}
	if c.upSize, err = parseSize(upSize); err != nil {
		return c, fmt.Errorf("-upload-size: %w", err)
	}
	if c.bigRead, err = parseSize(bigRead); err != nil {
		return c, fmt.Errorf("-bigger-read: %w", err)
	}
	if c.bigRead > biggerSize/4 {
		return c, fmt.Errorf("-bigger-read %s: at most a quarter of the %s file it reads from 3/4 on", bigRead, sizeText(biggerSize))
	}
	if c.files < 1 || c.upRate <= 0 {
		return c, errors.New("-files and -upload-rate must be positive")
	}
	if n < 4<<20 {
		// The far read needs a first MiB and a range at 90 % that do not overlap.
		return c, fmt.Errorf("-size %s: need at least 4MiB", size)
	}
	c.size = n
	// The throttled scenarios take size/rate for every single-connection
	// read; a smaller file keeps the run short and is still long next to
	// fsm's switch to parallel connections (after its first 8 MiB chunk).
	c.thrSize = min(n, c.thrSize)
	if c.runs < 1 {
		return c, errors.New("-runs must be at least 1")
	}
	if c.thrRuns < 0 {
		return c, errors.New("-throttled-runs must not be negative")
	}
	if c.thrRuns == 0 || c.thrRuns > c.runs {
		c.thrRuns = c.runs
	}
	if c.thrRate <= 0 {
		return c, errors.New("-throttle-rate must be positive")
	}
	if c.farRate <= 0 {
		return c, errors.New("-far-rate must be positive")
	}
	return c, nil
}

func main() { os.Exit(run()) }

func run() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsmbench:", err)
		return 2
	}
	// SIGINT/SIGTERM cancel the context; every step watches it, and the
	// deferred cleanup then stops children and unmounts before we exit.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	goals, err := loadGoals(cfg.goals)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsmbench:", err)
		return 2
	}
	h, err := newHarness(cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsmbench:", err)
		return 1
	}
	defer h.cleanup()
	h.goals = goals

	runErr := h.runAll(ctx)
	if perr := h.plot(); perr != nil {
		log.Error("plot", "err", perr)
		runErr = errors.Join(runErr, perr)
	}
	report := h.report(runErr)
	fmt.Print(report)
	if err := writeReport(cfg.out, report); err != nil {
		log.Error("write report", "err", err)
		runErr = errors.Join(runErr, err)
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "fsmbench: harness error:", runErr)
		return 1
	}
	return 0
}

// plot draws the upload time series, if there are any, and notes where the
// report finds the picture.
func (h *harness) plot() error {
	if h.cfg.plot == "" || len(h.uploadSeries) == 0 {
		return nil
	}
	title := fmt.Sprintf("Upload of %s while it downloads, links %.0f MB/s each: downloaded (dashed), uploaded (solid)",
		sizeText(h.cfg.upSize), float64(h.cfg.upRate)/1e6)
	if err := writePlot(h.cfg.plot, title, h.uploadSeries, h.cfg.upSize); err != nil {
		return err
	}
	h.plotFile = h.cfg.plot
	if rel, err := filepath.Rel(filepath.Dir(h.cfg.out), h.cfg.plot); err == nil && h.cfg.out != "" {
		h.plotFile = rel
	}
	return nil
}

func writeReport(path, report string) error {
	if path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create report dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
