//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"fsm/internal/testorigin"
)

// What TLS costs fsm, against the unavoidable: curl decrypting the file
// and writing it into a file on the same filesystem as fsm's cache (both
// live in the harness's temp dir), from the same unlimited origin. fsm's
// side is its download alone, without the cost of serving it: a 1-byte
// read starts the whole background download (docs/BEHAVIOUR.md, "Reads"),
// and fsm's CPU is taken before that read and once the API says complete.

// dlPoll is how often the API is asked whether the download is complete:
// often enough that the download's MB/s is a few per cent exact on a
// GiB, rarely enough that answering costs fsm next to nothing.
const dlPoll = 25 * time.Millisecond

// curlSink is where the curl baseline writes the file.
type curlSink int

const (
	// curlFile is `-o FILE` on the filesystem of fsm's cache: the
	// unavoidable decrypt-and-write the TLS CPU goal is judged against.
	curlFile curlSink = iota
	// curlPipe is stdout into the harness, which checks the bytes as
	// they come: receiving and decrypting, a pipe's copy, no filesystem.
	curlPipe
)

// tlsCurl downloads f with `curl --cacert PEM` into sink and records its
// throughput, its CPU per GiB from its rusage, and the HTTP version it
// used (it takes h2 where the origin offers it); the bytes are verified.
func (h *harness) tlsCurl(ctx context.Context, key string, f benchFile, kind testorigin.Protocols, sink curlSink) error {
	curl, err := exec.LookPath("curl")
	if err != nil {
		h.skip(key, "curl not installed")
		return nil
	}
	return h.withTLSOrigin(f, kind, func(o *testorigin.TLSOrigin, pemFile string) error {
		dir, err := h.mkdir("curl")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, fileName)
		if sink == curlPipe {
			out = "-"
		}
		ctx, cancel := context.WithTimeout(ctx, f.transferTimeout())
		defer cancel()
		// The version goes to stderr, so that stdout can carry the file.
		cmd := exec.CommandContext(ctx, curl, "--cacert", pemFile, "--noproxy", "*", "--silent", "--show-error",
			"--fail", "-o", out, "--write-out", "%{stderr}%{http_version}\n", o.URL())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return fmt.Errorf("curl %s: %w", o.URL(), err)
		}
		var sum sumWriter
		c0 := sampleCPU()
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("curl %s: %w", o.URL(), err)
		}
		_, derr := drain(stdout, &sum, t0) // nothing with -o FILE
		if derr != nil {
			_ = cmd.Process.Kill()
		}
		werr := cmd.Wait()
		wall := time.Since(t0)
		busy := busySince(c0)
		if err := errors.Join(derr, werr); err != nil {
			return fmt.Errorf("curl %s: %w: %s", o.URL(), err, strings.TrimSpace(stderr.String()))
		}
		user := cmd.ProcessState.UserTime()
		cpu := user + cmd.ProcessState.SystemTime()
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		version, err := strconv.ParseFloat(lines[len(lines)-1], 64)
		if err != nil {
			return fmt.Errorf("curl %s: HTTP version in %q: %w", o.URL(), stderr.String(), err)
		}
		switch sink {
		case curlFile:
			err = checkFile(out, f)
		case curlPipe:
			err = sum.check(f.size(), f.crc)
		}
		if err != nil {
			return fmt.Errorf("curl %s: %w", o.URL(), err)
		}
		// Its dirty pages are written back now, not during the next scenario.
		syscall.Sync()
		mbps := float64(f.size()) / wall.Seconds() / 1e6
		h.res.add(key+".mbps", mbps)
		h.res.add(key+".cpu", cpu.Seconds())
		h.res.add(key+".cpugib", cpu.Seconds()/gib(f.size()))
		h.res.add(key+".usergib", user.Seconds()/gib(f.size()))
		h.res.add(key+".busy", busy*100)
		h.res.add(key+".http", version)
		h.log.Info("measured", "what", key, "MB/s", fmt.Sprintf("%.0f", mbps), "CPU", cpu.Round(time.Millisecond),
			"user", user.Round(time.Millisecond), "HTTP", version, "machine CPU busy", fmt.Sprintf("%.0f%%", busy*100))
		return nil
	})
}

// tlsFsmDownload measures fsm's download of f alone: keys key+".dlmbps",
// ".dlcpugib", ".dlusergib" (its user part, mostly decrypting; the rest
// is the kernel's receive and write), ".dlhttp" (the protocol the API
// reports) and ".dl.busy".
func (h *harness) tlsFsmDownload(ctx context.Context, key string, f benchFile, kind testorigin.Protocols) error {
	return h.withTLSOrigin(f, kind, func(o *testorigin.TLSOrigin, pemFile string) error {
		s, err := h.startTLSFsm(ctx, o, pemFile)
		if err != nil {
			return err
		}
		return errors.Join(h.measureDownload(ctx, key, s, f), s.stop())
	})
}

func (h *harness) measureDownload(ctx context.Context, key string, s *server, f benchFile) error {
	ctx, cancel := context.WithTimeout(ctx, f.transferTimeout())
	defer cancel()
	user0, sys0, err := s.cpuTimes()
	if err != nil {
		return err
	}
	c0 := sampleCPU()
	t0 := time.Now()
	first, err := get(ctx, s.fileURL(), "bytes=0-0", newCmpWriter(f.content, 0, nil))
	if err != nil {
		return err
	}
	if first.n != 1 {
		return fmt.Errorf("GET %s bytes=0-0: %w: %d bytes, want 1", s.fileURL(), errWrongBytes, first.n)
	}
	af, err := waitComplete(ctx, s, fileName, f.size())
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	user1, sys1, err := s.cpuTimes()
	if err != nil {
		return err
	}
	busy := busySince(c0)
	version, err := httpVersion(af.Protocol)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	// The CPU figure counts only for a correct download: read it back,
	// warm, through WebDAV.
	var sum sumWriter
	if _, err := get(ctx, s.fileURL(), "", &sum); err != nil {
		return err
	}
	if err := sum.check(f.size(), f.crc); err != nil {
		return fmt.Errorf("GET %s after the download: %w", s.fileURL(), err)
	}
	user := user1 - user0
	cpu := user + sys1 - sys0
	h.res.add(key+".dlmbps", float64(f.size())/wall.Seconds()/1e6)
	h.res.add(key+".dlcpugib", cpu.Seconds()/gib(f.size()))
	h.res.add(key+".dlusergib", user.Seconds()/gib(f.size()))
	h.res.add(key+".dlhttp", version)
	h.res.add(key+".dl.busy", busy*100)
	h.log.Info("measured", "what", key+" download alone", "MB/s", fmt.Sprintf("%.0f", float64(f.size())/wall.Seconds()/1e6),
		"CPU", cpu, "user", user, "protocol", af.Protocol, "connections at the end", af.Connections, "machine CPU busy", fmt.Sprintf("%.0f%%", busy*100))
	return nil
}

// waitComplete polls the control API, over one keep-alive connection so
// that answering costs fsm as little as it can, until name is complete
// with size bytes; error and failed states are harness errors.
func waitComplete(ctx context.Context, s *server, name string, size int64) (apiFile, error) {
	client, done := newClient()
	defer done()
	u := apiFileURL(s.base, name)
	var last apiFile
	for {
		if s.exited() {
			return apiFile{}, s.diedError()
		}
		var f apiFile
		if err := getJSONWith(ctx, client, u, &f); err != nil {
			return apiFile{}, err
		}
		switch {
		case f.State == "complete" && f.Downloaded == size:
			return f, nil
		case f.State == "error" || f.State == "failed":
			return f, fmt.Errorf("%s: %s %s after %d of %d bytes: %s", s.name, name, f.State, f.Downloaded, size, f.Error)
		}
		last = f
		if err := sleepCtx(ctx, dlPoll); err != nil {
			return apiFile{}, fmt.Errorf("%s: %s not complete (last: %s, %d of %d bytes): %w; last output:\n%s",
				s.name, name, last.State, last.Downloaded, size, err, s.logTail(15))
		}
	}
}

// getJSONWith is getJSON over the given client.
func getJSONWith(ctx context.Context, client *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: status %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", u, err)
	}
	return nil
}

// httpVersion turns the API's protocol into the number curl reports, so
// that both read alike in the report.
func httpVersion(protocol string) (float64, error) {
	switch protocol {
	case "http/1.1":
		return 1.1, nil
	case "h2":
		return 2, nil
	}
	return 0, fmt.Errorf("protocol %q in the API, want http/1.1 or h2", protocol)
}

// checkFile verifies a downloaded file against f's content.
func checkFile(path string, f benchFile) error {
	r, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("check download: %w", err)
	}
	defer r.Close()
	var sum sumWriter
	if _, err := io.Copy(&sum, r); err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if err := sum.check(f.size(), f.crc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func gib(n int64) float64 { return float64(n) / (1 << 30) }
