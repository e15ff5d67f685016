//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"fsm/internal/testorigin"

	"github.com/dustin/go-humanize"
)

// fileName is the path the origin serves; fsm and rclone both expose the file
// under its last segment.
const fileName = "big.bin"

// harness owns the temp dir, the cleanup stack and the results of one run.
type harness struct {
	cfg config
	log *slog.Logger
	tmp string

	mu       sync.Mutex
	cleanups []func()
	seq      int // makes temp subdir names unique

	res          results
	uploadSeries []series // the last round's upload time series, for the plot
	goals        []goal
	plotFile     string    // the plot's path relative to the report, once written
	big          benchFile // the unthrottled scenarios' file
	thr          benchFile // the throttled whole-file scenarios' file
	started      time.Time
	loadStart    string
	commit       string // taken at the start: the run rewrites tracked files (the page, the plot)
}

func newHarness(cfg config, log *slog.Logger) (*harness, error) {
	tmp, err := os.MkdirTemp("", "fsmbench-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	// Mount points in /proc/self/mountinfo are resolved paths; compare like
	// with like when TMPDIR goes through a symlink.
	if real, err := filepath.EvalSymlinks(tmp); err == nil {
		tmp = real
	}
	h := &harness{cfg: cfg, log: log, tmp: tmp, res: results{}, started: time.Now(), loadStart: loadAvg(), commit: gitDescribe()}
	h.atExit(h.removeTemp)
	return h, nil
}

// atExit registers f to run at cleanup, in reverse order of registration.
func (h *harness) atExit(f func()) {
	h.mu.Lock()
	h.cleanups = append(h.cleanups, f)
	h.mu.Unlock()
}

// cleanup runs the registered functions, last first, exactly once each.
func (h *harness) cleanup() {
	for {
		h.mu.Lock()
		n := len(h.cleanups)
		if n == 0 {
			h.mu.Unlock()
			return
		}
		f := h.cleanups[n-1]
		h.cleanups = h.cleanups[:n-1]
		h.mu.Unlock()
		f()
	}
}

// removeTemp deletes the temp dir, but never while something is still
// mounted below it: RemoveAll would walk into the mount (or hang on a dead one).
func (h *harness) removeTemp() {
	if h.cfg.keep {
		h.log.Info("keeping temp dir", "dir", h.tmp)
		return
	}
	if m := mountsUnder(h.tmp); len(m) > 0 {
		h.log.Error("not removing temp dir: still mounted", "mounts", m)
		return
	}
	if err := os.RemoveAll(h.tmp); err != nil {
		h.log.Warn("remove temp dir", "err", err)
	}
}

// mkdir makes a fresh, uniquely named dir in the temp dir.
func (h *harness) mkdir(prefix string) (string, error) {
	h.mu.Lock()
	h.seq++
	name := fmt.Sprintf("%s-%d", prefix, h.seq)
	h.mu.Unlock()
	dir := filepath.Join(h.tmp, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return dir, nil
}

// benchFile is the file a group of scenarios reads: its content, the
// origin's rate limit and the checksum whole reads are verified against.
type benchFile struct {
	content testorigin.Content
	rate    int64  // origin bytes/s per connection; 0: unthrottled
	crc     uint32 // CRC-32C of content, computed once up front
}

func (f benchFile) size() int64 { return f.content.Size }

// transferTimeout bounds one whole-file read: generous (20 MB/s, or half
// the throttled origin's per-connection rate if lower) so that a slow
// baseline is measured rather than cut, yet finite.
func (f benchFile) transferTimeout() time.Duration {
	rate := 20e6
	if f.rate > 0 {
		rate = min(rate, float64(f.rate)/2)
	}
	return 30*time.Second + time.Duration(float64(f.size())/rate*float64(time.Second))
}

// scenario is one measured part of the run.
type scenario struct {
	name      string
	run       func(context.Context) error
	throttled bool // only in the first cfg.thrRuns rounds
	once      bool // only in the first round: slow, and its figure barely moves
}

// runAll runs the scenarios round after round (interleaved, so background
// load drifting over the run hits every scenario alike and the ratios stay
// fair). A failing scenario is dropped from later rounds but does not stop
// the others, whose numbers are still worth having; cancellation does.
func (h *harness) runAll(ctx context.Context) error {
	if err := h.prepare(ctx); err != nil {
		return err
	}
	defer func() {
		// Scenarios cut short report "killed" or "canceled"; say why.
		if ctx.Err() != nil {
			h.log.Error("run stopped early", "why", context.Cause(ctx))
		}
	}()
	scenarios := []scenario{
		{name: "direct GET", run: func(ctx context.Context) error { return h.directGET(ctx, "direct", h.big) }},
		{name: "fsm WebDAV GET", run: func(ctx context.Context) error { return h.fsmGET(ctx, "fsm", h.big, true) }},
		{name: "rclone WebDAV GET", run: func(ctx context.Context) error { return h.rcloneGET(ctx, "rclone", h.big, true) }},
		{name: "far read", run: h.farRead},
		{name: "FUSE", run: func(ctx context.Context) error { return h.fuseRead(ctx, "fuse", h.big) }},
		// Against an origin that limits each connection: one connection
		// (direct, rclone) gets the rate, parallel ones a multiple.
		{name: "throttled direct GET", throttled: true, run: func(ctx context.Context) error { return h.directGET(ctx, "thr.direct", h.thr) }},
		{name: "throttled fsm WebDAV GET", throttled: true, run: func(ctx context.Context) error { return h.fsmGET(ctx, "thr.fsm", h.thr, false) }},
		{name: "throttled rclone WebDAV GET", throttled: true, run: func(ctx context.Context) error { return h.rcloneGET(ctx, "thr.rclone", h.thr, false) }},
		{name: "throttled FUSE", throttled: true, run: func(ctx context.Context) error { return h.fuseRead(ctx, "thr.fuse", h.thr) }},
		{name: "gvfs read", run: h.gvfsRead},
		{name: "concurrent readers", run: h.concurrent},
		{name: "many files", once: true, run: h.manyFiles},
		{name: "FUSE stall", once: true, run: h.stall},
		{name: "upload", run: h.upload},
		{name: "resume after restart", run: h.resume},
		// A 1 TiB file through a 2 GiB cache (bigger.go): GiBs of reads,
		// and its figures barely move between rounds.
		{name: "bigger than the cache", once: true, run: h.bigger},
	}
	// Over TLS, limited per connection and not (tls.go).
	scenarios = append(scenarios, h.tlsScenarios()...)
	failed := map[string]bool{}
	var errs []error
	for round := 1; round <= h.cfg.runs; round++ {
		for _, s := range scenarios {
			if failed[s.name] || (s.throttled && round > h.cfg.thrRuns) || (s.once && round > 1) ||
				(h.cfg.only != nil && !h.cfg.only.MatchString(s.name)) {
				continue
			}
			if ctx.Err() != nil {
				return errors.Join(append(errs, fmt.Errorf("stopped in round %d: %w", round, context.Cause(ctx)))...)
			}
			h.log.Info("scenario", "name", s.name, "round", round)
			if err := s.run(ctx); err != nil {
				h.log.Error("scenario failed", "name", s.name, "err", err)
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
				failed[s.name] = true
			}
		}
	}
	return errors.Join(errs...)
}

// prepare builds what is missing and computes the expected checksum, so none
// of that lands inside a timed step.
func (h *harness) prepare(ctx context.Context) error {
	if h.cfg.fsmBin == "" {
		bin := filepath.Join(h.tmp, "fsm")
		if err := goBuild(ctx, bin, ""); err != nil {
			return fmt.Errorf("build fsm: %w", err)
		}
		h.cfg.fsmBin = bin
	}
	if h.cfg.fuseBin == "" && h.cfg.fuseSkip == "" {
		bin := filepath.Join(h.tmp, "fsm-fuse")
		if err := goBuild(ctx, bin, "fuse,fuse3"); err != nil {
			h.cfg.fuseSkip = "fsm does not build with -tags fuse,fuse3: " + err.Error()
		} else {
			h.cfg.fuseBin = bin
		}
	}
	if _, err := exec.LookPath(h.cfg.rclone); err != nil {
		h.log.Warn("rclone not found; its baselines are skipped (apt-get install -y rclone)", "err", err)
		h.cfg.rclone = ""
	}
	// Builds leave dirty pages behind; flush them now rather than during
	// the first timed transfer.
	syscall.Sync()
	t0 := time.Now()
	h.big = newBenchFile(testorigin.Content{Seed: 1, Size: h.cfg.size}, 0)
	// Seed 3: the far read uses 2; distinct bytes keep any mix-up visible.
	h.thr = newBenchFile(testorigin.Content{Seed: 3, Size: h.cfg.thrSize}, h.cfg.thrRate)
	h.log.Info("expected checksums ready", "size", h.cfg.size, "throttled size", h.cfg.thrSize, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

func newBenchFile(c testorigin.Content, rate int64) benchFile {
	return benchFile{content: c, rate: rate, crc: contentCRC(c, 0, c.Size)}
}

// goBuild builds ./cmd/fsm of the module containing the working directory.
func goBuild(ctx context.Context, out, tags string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	dir := filepath.Dir(strings.TrimSpace(string(gomod)))
	args := []string{"build", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/fsm")...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, buildSummary(string(b)))
	}
	return nil
}

// buildSummary keeps the first compiler message of go build's output, which
// starts with "# package" header lines that say nothing on their own.
func buildSummary(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	return strings.TrimSpace(out)
}

// parseSize reads a byte count with go-humanize's units: SI prefixes are
// decimal ("1G" and "1GB" are 10^9 bytes), IEC ones binary ("1GiB" is 2^30).
func parseSize(s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > math.MaxInt64 {
		return 0, fmt.Errorf("bad size %q (e.g. 1GiB, 1G = 10^9 bytes, 256MiB)", s)
	}
	return int64(n), nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
