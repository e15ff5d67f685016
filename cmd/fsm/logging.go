package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"fsm/internal/termui"
)

// logFlags are fsm serve's logging flags, named as rclone names them.
type logFlags struct {
	LogLevel  string `default:"info" env:"FSM_LOG_LEVEL" enum:"debug,info,warn,error" help:"Log level: debug (adds one line per HTTP and FUSE request), info, warn or error."`
	Verbose   bool   `short:"v" xor:"verbosity" help:"Log at debug level (same as --log-level debug)."`
	Quiet     bool   `short:"q" xor:"verbosity" help:"Log warnings and errors only (same as --log-level warn)."`
	LogFile   string `env:"FSM_LOG_FILE" type:"path" placeholder:"FILE" help:"Append the log to FILE instead of writing it to stderr."`
	LogFormat string `default:"auto" env:"FSM_LOG_FORMAT" enum:"auto,text,json" help:"Log format: text (key=value lines), json (one object a line) or auto (a short readable form on a terminal, else text)."`
}

// logFormat is the form of each log line.
type logFormat int

const (
	formatText     logFormat = iota // slog's key=value lines, for files and pipes
	formatJSON                      // one JSON object a line, for collectors
	formatReadable                  // "15:04:05 INFO  message  key=value", for people
)

// level is the level the flags ask for: -v and -q win over --log-level,
// whose default is always set.
func (f *logFlags) level() slog.Level {
	switch {
	case f.Verbose:
		return slog.LevelDebug
	case f.Quiet:
		return slog.LevelWarn
	}
	var l slog.Level
	// kong's enum has checked the value already.
	_ = l.UnmarshalText([]byte(f.LogLevel))
	return l
}

// open makes the logger the flags describe. close closes the log file
// (a no-op on stderr). An error is a log file that cannot be opened: a
// failure of the run (exit status 1), not of the command line.
func (f *logFlags) open() (log *slog.Logger, close func(), err error) {
	var out io.Writer = os.Stderr
	close = func() {}
	terminal := termui.IsTerminal(os.Stderr)
	if f.LogFile != "" {
		path := f.LogFile // ~ expanded by the path type
		// 0600: a log names the files staged and the clients' requests.
		lf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is named once, below
			}
			return nil, nil, fmt.Errorf("--log-file %s: %w", path, err)
		}
		out, close, terminal = lf, func() { lf.Close() }, false
	}
	format := formatText
	switch {
	case f.LogFormat == "json":
		format = formatJSON
	case f.LogFormat == "auto" && terminal:
		format = formatReadable
	}
	return newLogger(out, format, f.level()), close, nil
}

// newLogger writes lines of format at level and above to out.
func newLogger(out io.Writer, format logFormat, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case formatJSON:
		return slog.New(slog.NewJSONHandler(out, opts))
	case formatReadable:
		return slog.New(newReadableHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}

// readableHandler writes "15:04:05 INFO  message  key=value ...": the time
// of day, the level and the message without keys, then the attributes as
// slog's text handler writes them (quoted where needed, groups dotted).
// The attributes are formatted by an inner TextHandler into a buffer that
// every handler derived by WithAttrs and WithGroup shares with its parent.
type readableHandler struct {
	shared *readableOut
	inner  slog.Handler // formats the attributes only, into shared.buf
}

// readableOut is the output of a readableHandler and its derived handlers.
type readableOut struct {
	mu  sync.Mutex   // guards buf and each write to out, so lines never interleave
	buf bytes.Buffer // the inner handler's output for the record being written
	out io.Writer
}

func newReadableHandler(out io.Writer, opts *slog.HandlerOptions) *readableHandler {
	shared := &readableOut{out: out}
	inner := slog.NewTextHandler(&shared.buf, &slog.HandlerOptions{
		Level: opts.Level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{} // written by Handle itself
			}
			return a
		},
	})
	return &readableHandler{shared: shared, inner: inner}
}

func (h *readableHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *readableHandler) Handle(ctx context.Context, r slog.Record) error {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	h.shared.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	attrs := strings.TrimSpace(h.shared.buf.String())
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	line := fmt.Sprintf("%s %-5s %s", t.Format(time.TimeOnly), r.Level.String(), r.Message)
	if attrs != "" {
		line += "  " + attrs
	}
	_, err := io.WriteString(h.shared.out, line+"\n")
	return err
}

func (h *readableHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &readableHandler{shared: h.shared, inner: h.inner.WithAttrs(attrs)}
}

func (h *readableHandler) WithGroup(name string) slog.Handler {
	return &readableHandler{shared: h.shared, inner: h.inner.WithGroup(name)}
}
