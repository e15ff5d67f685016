//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"fsm/internal/testorigin"
)

// transfer is what one timed read produced.
type transfer struct {
	n     int64
	ttfb  time.Duration // request sent -> first body byte
	total time.Duration // request sent -> end of body
}

// mbps is throughput in MB/s (10^6 bytes per second), first byte included.
func (t transfer) mbps() float64 {
	if t.total <= 0 {
		return 0
	}
	return float64(t.n) / t.total.Seconds() / 1e6
}

// errWrongBytes marks a correctness failure (as opposed to a slow or broken
// transfer), which always fails the run.
var errWrongBytes = errors.New("wrong bytes")

// crcTable: Castagnoli has hardware support on amd64 and arm64, so hashing a
// GiB costs a small fraction of the transfer it checks, which matters on 2
// cores shared with the origin and the server under test.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// sumWriter hashes everything written to it.
type sumWriter struct {
	crc uint32
	n   int64
}

func (s *sumWriter) Write(p []byte) (int, error) {
	s.crc = crc32.Update(s.crc, crcTable, p)
	s.n += int64(len(p))
	return len(p), nil
}

// check compares a finished whole-file transfer with the expected checksum.
func (s *sumWriter) check(size int64, want uint32) error {
	if s.n != size {
		return fmt.Errorf("%w: got %d bytes, want %d", errWrongBytes, s.n, size)
	}
	if s.crc != want {
		return fmt.Errorf("%w: CRC-32C %08x, want %08x", errWrongBytes, s.crc, want)
	}
	return nil
}

// contentCRC is the CRC-32C of c's bytes [off, off+n).
func contentCRC(c testorigin.Content, off, n int64) uint32 {
	buf := make([]byte, 1<<20)
	var crc uint32
	for n > 0 {
		m := min(n, int64(len(buf)))
		k, _ := c.ReadAt(buf[:m], off)
		crc = crc32.Update(crc, crcTable, buf[:k])
		if int64(k) < m {
			break
		}
		off, n = off+m, n-m
	}
	return crc
}

// cmpWriter compares bytes with the expected content as they arrive, for
// transfers that are cut short on purpose (no whole-file checksum applies)
// and for small ranges. progress, if set, sees the running byte count.
type cmpWriter struct {
	want     testorigin.Content
	off      int64
	buf      []byte
	progress func(n int64)
	n        int64
}

func newCmpWriter(c testorigin.Content, off int64, progress func(int64)) *cmpWriter {
	return &cmpWriter{want: c, off: off, buf: make([]byte, 256<<10), progress: progress}
}

func (w *cmpWriter) Write(p []byte) (int, error) {
	err := eachPiece(w.want, w.off, w.buf, p, func(at int64, want, got []byte, same bool) error {
		if same {
			return nil
		}
		i := 0
		for want[i] == got[i] {
			i++
		}
		return fmt.Errorf("%w: first difference at offset %d", errWrongBytes, at+int64(i))
	})
	if err != nil {
		return 0, err
	}
	w.off += int64(len(p))
	w.n += int64(len(p))
	if w.progress != nil {
		w.progress(w.n)
	}
	return len(p), nil
}

// eachPiece walks p, the bytes received at off, in pieces of buf's size,
// reading the bytes want has there into buf, and hands each piece to
// check (which may stop the walk with an error). Bytes past want's end are
// wrong bytes.
func eachPiece(want testorigin.Content, off int64, buf, p []byte, check func(at int64, want, got []byte, same bool) error) error {
	for len(p) > 0 {
		m := min(len(p), len(buf))
		k, _ := want.ReadAt(buf[:m], off)
		if k < m {
			return fmt.Errorf("%w: data past the end of the file at offset %d", errWrongBytes, off+int64(k))
		}
		if err := check(off, buf[:m], p[:m], bytes.Equal(buf[:m], p[:m])); err != nil {
			return err
		}
		off += int64(m)
		p = p[m:]
	}
	return nil
}

// newClient returns a client with its own connection pool, so no transfer
// reuses a connection (or its TCP window) warmed up by an earlier one.
func newClient() (*http.Client, func()) {
	tr := &http.Transport{
		Proxy:              nil, // loopback only; ignore *_PROXY
		DisableCompression: true,
		ReadBufferSize:     256 << 10,
	}
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

// get GETs url (with a Range header if rng is set), streams the body into
// sink and times it. It insists on 206 for ranges and 200 otherwise.
func get(ctx context.Context, url, rng string, sink io.Writer) (transfer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return transfer{}, fmt.Errorf("GET %s: %w", url, err)
	}
	want := http.StatusOK
	if rng != "" {
		req.Header.Set("Range", rng)
		want = http.StatusPartialContent
	}
	client, done := newClient()
	defer done()
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return transfer{}, fmt.Errorf("GET %s %s: %w", url, rng, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return transfer{}, fmt.Errorf("GET %s %s: status %s, want %d: %s", url, rng, resp.Status, want, bytes.TrimSpace(b))
	}
	res, err := drain(resp.Body, sink, t0)
	if err != nil {
		return res, fmt.Errorf("GET %s %s: %w", url, rng, err)
	}
	return res, nil
}

// drain copies r into sink, recording first-byte and end times from t0.
func drain(r io.Reader, sink io.Writer, t0 time.Time) (transfer, error) {
	var res transfer
	buf := make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if res.n == 0 {
				res.ttfb = time.Since(t0)
			}
			if _, werr := sink.Write(buf[:n]); werr != nil {
				return res, werr
			}
			res.n += int64(n)
		}
		if err == io.EOF {
			res.total = time.Since(t0)
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("after %d bytes: %w", res.n, err)
		}
	}
}

// ddFile times `dd if=path bs=1M`, with dd's stdout piped into sink rather
// than /dev/null so the bytes can be verified; a pipe moves GB/s, far more
// than any FUSE read here.
func ddFile(ctx context.Context, path string, sink io.Writer) (transfer, error) {
	cmd := exec.CommandContext(ctx, "dd", "if="+path, "bs=1M", "status=none")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return transfer{}, fmt.Errorf("dd %s: %w", path, err)
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return transfer{}, fmt.Errorf("dd %s: %w", path, err)
	}
	res, derr := drain(out, sink, t0)
	if derr != nil {
		_ = cmd.Process.Kill()
	}
	werr := cmd.Wait()
	res.total = time.Since(t0)
	if derr != nil {
		return res, fmt.Errorf("dd %s: %w", path, derr)
	}
	if werr != nil {
		return res, fmt.Errorf("dd %s: %w: %s", path, werr, strings.TrimSpace(stderr.String()))
	}
	return res, nil
}

// propfind lists dir with Depth 1 like any WebDAV client does before it
// opens a file, and checks the file is listed. It is not timed: the
// benchmark compares content transfer, with metadata already known.
func propfind(ctx context.Context, dirURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "PROPFIND", dirURL, nil)
	if err != nil {
		return fmt.Errorf("PROPFIND %s: %w", dirURL, err)
	}
	req.Header.Set("Depth", "1")
	client, done := newClient()
	defer done()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("PROPFIND %s: %w", dirURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("PROPFIND %s: read: %w", dirURL, err)
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return fmt.Errorf("PROPFIND %s: status %s, want 207", dirURL, resp.Status)
	}
	if !bytes.Contains(body, []byte(fileName)) {
		return fmt.Errorf("PROPFIND %s: %s not listed", dirURL, fileName)
	}
	return nil
}
