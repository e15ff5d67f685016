package fsmtest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// LogSink forwards lines to t.Log until the test ends, then drops them:
// mounts, servers and browsers may still log while cleanups run, and t.Log
// after the end of a test panics.
type LogSink struct {
	t    testing.TB
	done atomic.Bool
}

// NewLogSink returns a sink for t; it stops forwarding once t's cleanups
// have run.
func NewLogSink(t testing.TB) *LogSink {
	s := &LogSink{t: t}
	t.Cleanup(func() { s.done.Store(true) }) // registered first: runs last
	return s
}

func (s *LogSink) Write(p []byte) (int, error) {
	if !s.done.Load() {
		s.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// Logf is t.Logf until the test ends.
func (s *LogSink) Logf(format string, args ...any) {
	if !s.done.Load() {
		s.t.Logf(format, args...)
	}
}

// Logger is a text logger at info level into a new LogSink for t.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(NewLogSink(t), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Buffer is a bytes.Buffer safe for one goroutine writing (a child's
// stderr, a logger) while the test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// WriteString appends line.
func (s *Buffer) WriteString(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(line)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
