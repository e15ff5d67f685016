package store

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// logSink records log lines for assertions.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(string(p)))
	return len(p), nil
}

// count returns how many lines have the level and contain every part.
func (l *logSink) count(level string, parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
next:
	for _, line := range l.lines {
		if !strings.Contains(line, "level="+level+" ") {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		n++
	}
	return n
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "\n" + strings.Join(l.lines, "\n")
}

// TestRetriesSummarised: an origin that fails 5 times and then recovers
// gives one warning as it starts failing and one as it recovers, with the
// attempts only at debug level; a download gives one line as it starts and
// one as it completes.
func TestRetriesSummarised(t *testing.T) {
	c := testorigin.Content{Seed: 71, Size: 2 << 20}
	var logs logSink
	so := fastOpts()
	so.Connections, so.MaxFetchers, so.Retries = 1, 1, 10
	so.Logger = logs.logger()
	e := newEnv(t, testorigin.Options{Content: c, FailCount: 5}, so)
	s := e.newStore(t, e.source("f"))
	checkRead(t, s, c, 0, c.Size)
	eventually(t, "complete", func() bool { return s.Progress().State == StateComplete })
	if n := logs.count("WARN"); n != 2 {
		t.Fatalf("%d WARN lines for one outage, want 2:%s", n, logs.String())
	}
	if logs.count("WARN", "origin failing") != 1 || logs.count("WARN", "origin recovered", "failed_attempts=5") != 1 {
		t.Fatalf("want one failing and one recovered warning:%s", logs.String())
	}
	if n := logs.count("DEBUG", "attempt failed"); n != 5 {
		t.Fatalf("%d debug lines for 5 failed attempts:%s", n, logs.String())
	}
	if logs.count("INFO", "download started") != 1 || logs.count("INFO", "download complete", "bytes=2097152", "connections=1", "MB/s=") != 1 {
		t.Fatalf("want one start and one completion line:%s", logs.String())
	}
}

// TestGiveUpSummarised: an origin that never answers well gives one
// warning and one error for the failed read, whatever the attempts.
func TestGiveUpSummarised(t *testing.T) {
	c := testorigin.Content{Seed: 72, Size: 1 << 20}
	var logs logSink
	so := fastOpts()
	so.Connections, so.MaxFetchers, so.Retries = 1, 1, 6
	so.Logger = logs.logger()
	e := newEnv(t, testorigin.Options{Content: c, FailCount: 1 << 30}, so)
	s := e.newStore(t, e.source("f"))
	if _, err := readAt(t, s, 0, 100); err == nil {
		t.Fatal("read from a failing origin succeeded")
	}
	if e.o.Count(http.MethodGet) != so.Retries+1 {
		t.Fatalf("%d requests", e.o.Count(http.MethodGet))
	}
	if logs.count("WARN") != 1 || logs.count("ERROR", "download failed", "failed_attempts=7") != 1 {
		t.Fatalf("want one warning and one error for %d failed attempts:%s", so.Retries+1, logs.String())
	}
}

// TestProgressRateAndConns: while a throttled download runs, Progress
// shows a rate and the connections in use; once complete, both are 0.
func TestProgressRateAndConns(t *testing.T) {
	c := testorigin.Content{Seed: 73, Size: 4 << 20}
	so := fastOpts()
	so.Connections, so.MaxFetchers = 1, 1
	e := newEnv(t, testorigin.Options{Content: c, BytesPerSecond: 4 << 20}, so)
	s := e.newStore(t, e.source("f"))
	checkRead(t, s, c, 0, 100)
	eventually(t, "a rate while downloading", func() bool {
		p := s.Progress()
		return p.Rate > 0 && p.Conns == 1 || p.State == StateComplete
	})
	if p := s.Progress(); p.State == StateComplete {
		t.Fatalf("a 4 MiB download at 4 MiB/s completed before any rate showed: %+v", p)
	}
	// The last bytes land before their fetcher has returned: wait for it.
	eventually(t, "complete", func() bool { return s.Progress().State == StateComplete && s.fetchers() == 0 })
	if p := s.Progress(); p.Rate != 0 || p.Conns != 0 {
		t.Fatalf("complete, yet rate %.0f and %d connections", p.Rate, p.Conns)
	}
	_ = context.Background
}

func TestMeter(t *testing.T) {
	var m meter
	t0 := time.Unix(1000, 0)
	m.add(1000, t0)
	m.add(1000, t0.Add(500*time.Millisecond))
	if r := m.rate(t0.Add(time.Second)); r != 2000 {
		t.Fatalf("rate after 2000 bytes in 1 s: %.0f", r)
	}
	if r := m.rate(t0.Add(10 * time.Second)); r != 0 {
		t.Fatalf("rate long after the traffic: %.0f", r)
	}
	m.add(3000, t0.Add(20*time.Second)) // a new run: not averaged with the pause
	if r := m.rate(t0.Add(21 * time.Second)); r != 3000 {
		t.Fatalf("rate of a new run: %.0f", r)
	}
}
