package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"fsm/internal/testorigin"
)

// Benchmarks that report CPU seconds run the origin in a child process (this
// test binary again, see TestMain), so that the process's own CPU time is
// the store's (and the direct download's), not the origin's.

// originChildEnv carries a child origin's options (JSON) to the child.
const originChildEnv = "FSM_STORE_BENCH_ORIGIN"

// childOrigin is what the child tells its parent.
type childOrigin struct {
	URL          string
	ETag         string
	LastModified time.Time
}

// maybeServeChildOrigin serves an origin and returns true when this process
// was started as one; it serves until its stdin closes.
func maybeServeChildOrigin() bool {
	spec := os.Getenv(originChildEnv)
	if spec == "" {
		return false
	}
	var oo testorigin.Options
	if err := json.Unmarshal([]byte(spec), &oo); err != nil {
		fmt.Fprintln(os.Stderr, "child origin:", err)
		os.Exit(2)
	}
	o := testorigin.NewServer(oo)
	_, etag, lm := o.Version()
	json.NewEncoder(os.Stdout).Encode(childOrigin{URL: o.URL(), ETag: etag, LastModified: lm})
	io.Copy(io.Discard, os.Stdin)
	o.Close()
	return true
}

// startChildOrigin starts an origin with oo in a child process, stopped
// when b ends.
func startChildOrigin(b *testing.B, oo testorigin.Options) childOrigin {
	b.Helper()
	spec, err := json.Marshal(oo)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), originChildEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	var co childOrigin
	if err := json.NewDecoder(bufio.NewReader(out)).Decode(&co); err != nil {
		b.Fatalf("child origin: %v", err)
	}
	return co
}

// procEnv is a benchmark environment whose origin is a child process.
type procEnv struct {
	co     childOrigin
	m      *Manager
	direct *http.Client
	c      testorigin.Content
}

func newProcEnv(b *testing.B, oo testorigin.Options, so Options) *procEnv {
	b.Helper()
	co := startChildOrigin(b, oo)
	m, direct := benchManager(b, so)
	return &procEnv{co: co, m: m, direct: direct, c: oo.Content}
}

func (e *procEnv) store(b *testing.B) *Store {
	s, err := e.m.create(testSource{Name: "bench", URL: e.co.URL, Size: e.c.Size, ETag: e.co.ETag, LastModified: e.co.LastModified}.split())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// directGet downloads the whole file in one request to io.Discard.
func (e *procEnv) directGet(b *testing.B) {
	resp, err := e.direct.Get(e.co.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	k, err := io.Copy(io.Discard, resp.Body)
	if err != nil || k != e.c.Size {
		b.Fatalf("direct GET: %d bytes, %v", k, err)
	}
}

// measured is the wall and CPU time of one run of f.
func measured(f func()) (wall, cpu time.Duration) {
	c0, t0 := cpuTime(), time.Now()
	f()
	return time.Since(t0), cpuTime() - c0
}

// cpuPerGiB is CPU seconds per GiB moved.
func cpuPerGiB(cpu time.Duration, bytes int64) float64 {
	return cpu.Seconds() / (float64(bytes) / (1 << 30))
}

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}
