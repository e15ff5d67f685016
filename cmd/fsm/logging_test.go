package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/creack/pty"

	"fsm/internal/fsmtest"
	"fsm/internal/testorigin"
)

// The readable format is "TIME LEVEL message  key=value", attributes of
// derived loggers and groups included, one line per record.
func TestReadableLog(t *testing.T) {
	var out bytes.Buffer
	log := newLogger(&out, formatReadable, slog.LevelInfo)
	log.Debug("hidden")
	log.With("file", "a b.bin").WithGroup("req").Warn("read failed", "offset", 10)
	log.Info("plain")
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^\d\d:\d\d:\d\d WARN  read failed  file="a b.bin" req.offset=10$`),
		regexp.MustCompile(`^\d\d:\d\d:\d\d INFO  plain$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("want %d lines, got %q", len(want), lines)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %s", i, lines[i], re)
		}
	}
}

// -v and -q win over --log-level.
func TestLogLevelFlags(t *testing.T) {
	for _, c := range []struct {
		f    logFlags
		want slog.Level
	}{
		{logFlags{LogLevel: "info"}, slog.LevelInfo},
		{logFlags{LogLevel: "error"}, slog.LevelError},
		{logFlags{LogLevel: "info", Verbose: true}, slog.LevelDebug},
		{logFlags{LogLevel: "info", Quiet: true}, slog.LevelWarn},
	} {
		if got := c.f.level(); got != c.want {
			t.Errorf("%+v: level %v, want %v", c.f, got, c.want)
		}
	}
}

// At debug level (-v) every HTTP request is one log line with its method,
// path, range, status and duration; at info there are none.
func TestRequestLog(t *testing.T) {
	c := testorigin.Content{Seed: 31, Size: 1 << 20}
	o := testorigin.New(t, testorigin.Options{Content: c, Name: "/r.bin"})
	for _, level := range []string{"-v", "--log-level=info"} {
		t.Run(level, func(t *testing.T) {
			s := startServe(t, []string{"FSM_CACHE_DIR=" + t.TempDir()}, level, o.URL())
			s.waitState(t, "r.bin", "idle")
			resp, body := get(t, s.url+"r.bin", "Range", "bytes=1000-1099")
			if resp.StatusCode != 206 || !bytes.Equal(body, c.Bytes(1000, 100)) {
				t.Fatalf("range GET: %s", resp.Status)
			}
			line := regexp.MustCompile(`level=DEBUG msg="http request" method=GET path=/r.bin status=206 bytes=100 duration=\S+ range="bytes=1000-1099"`)
			if level == "-v" {
				fsmtest.Eventually(t, "the request's log line", func() bool { return line.MatchString(s.log.String()) })
			}
			if code := s.stop(t); code != 0 {
				t.Fatalf("exit %d:\n%s", code, s.log)
			}
			if level != "-v" && strings.Contains(s.log.String(), "http request") {
				t.Errorf("request lines at info level:\n%s", s.log)
			}
		})
	}
}

// --log-file gets the log, in JSON with --log-format json, and stderr
// stays empty.
func TestLogFileJSON(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fsm.log")
	cmd := newCLIEnv(t).cmd(nil, "serve", "--addr", "127.0.0.1:0", "--cache-dir", t.TempDir(), "--log-file", file, "--log-format", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var serving map[string]any
	fsmtest.Eventually(t, "the serving line in the log file", func() bool {
		b, _ := os.ReadFile(file)
		for _, l := range strings.Split(string(b), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "fsm is serving" {
				serving = m
				return true
			}
		}
		return false
	})
	if _, ok := serving["webdav"].(string); !ok {
		t.Errorf("serving line without its webdav URL: %v", serving)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode: %v %v", fi.Mode(), err)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr is not empty with --log-file: %q", stderr.String())
	}
}

// A log file that cannot be opened fails the start with the path once.
func TestLogFileRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	code, _, stderr := runSplit(t, bin, "", nil, "serve", "--addr", "127.0.0.1:0", "--log-file", filepath.Join(dir, "x.log"))
	if code != 1 || strings.Count(stderr, dir) != 1 || !strings.Contains(stderr, "--log-file") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// On a terminal the default log format is the readable one; piped it is
// slog's text (the other tests read it so).
func TestReadableLogOnTerminal(t *testing.T) {
	e := newCLIEnv(t)
	c := e.cmd(nil, "serve", "--addr", "127.0.0.1:0", "--cache-dir", t.TempDir())
	tty, err := pty.StartWithSize(c, &pty.Winsize{Rows: 24, Cols: 200})
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	defer tty.Close()
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	var out fsmtest.Buffer
	go io.Copy(&out, tty)
	readable := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d INFO  fsm is serving  webdav=http://127\.0\.0\.1:\d+/ `)
	fsmtest.Eventually(t, "the readable serving line", func() bool { return readable.MatchString(strings.ReplaceAll(out.String(), "\r\n", "\n")) })
	if strings.Contains(out.String(), "level=INFO") {
		t.Errorf("key=value lines on a terminal:\n%s", out.String())
	}
	c.Process.Signal(os.Interrupt)
	if err := c.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, out.String())
	}
}
