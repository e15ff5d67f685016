package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"fsm/internal/testorigin"
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

	res       results
	content   testorigin.Content // the unthrottled scenarios' file
	wantCRC   uint32             // CRC-32C of content, computed once up front
	started   time.Time
	loadStart string
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
	h := &harness{cfg: cfg, log: log, tmp: tmp, res: results{}, started: time.Now(), loadStart: loadAvg()}
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

// scenario is one measured part of the run.
type scenario struct {
	name string
	run  func(context.Context) error
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
		{"direct GET", h.directGET},
		{"fsm WebDAV GET", h.fsmGET},
		{"rclone WebDAV GET", h.rcloneGET},
		{"far read", h.farRead},
		{"FUSE", h.fuseRead},
	}
	failed := map[string]bool{}
	var errs []error
	for round := 1; round <= h.cfg.runs; round++ {
		for _, s := range scenarios {
			if failed[s.name] {
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
	h.content = testorigin.Content{Seed: 1, Size: h.cfg.size}
	t0 := time.Now()
	h.wantCRC = contentCRC(h.content, 0, h.content.Size)
	h.log.Info("expected checksum ready", "size", h.cfg.size, "took", time.Since(t0).Round(time.Millisecond))
	return nil
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

// parseSize reads "1073741824", "256M", "1GiB", "512KiB" (binary units).
func parseSize(s string) (int64, error) {
	num := strings.TrimRight(strings.ToUpper(strings.TrimSpace(s)), "IB")
	mult := int64(1)
	if num != "" {
		switch num[len(num)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			num = num[:len(num)-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
