//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"fsm/internal/testorigin"
)

// The upload scenario is what fsm is for: a page uploads a remote file that
// the user picked from a local path. The origin's downlink and the website's
// uplink are each a link of cfg.upRate shared by all connections; the
// "browser" opens the file on the mount and POSTs it with its length, reading
// as the upload goes. Baseline: download to a local file, then upload that.
// Figure: wall time / max(download, upload), those being the file's time at
// each link's rate; the baseline itself is about 2.

const upName = "up.bin"

// sample is one point of an upload's time series.
type sample struct {
	t        time.Duration // since the start
	down, up int64         // bytes through the origin's link and the website's
}

// series is one path's time series, for the plot.
type series struct {
	label   string
	samples []sample
}

// sink is the "website": it accepts POST /upload through its own link and
// answers with the byte count and CRC-32C of what it got.
type sink struct {
	srv  *http.Server
	url  string
	link *testorigin.Link
}

func startSink(rate int64) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("upload sink listen: %w", err)
	}
	s := &sink{url: "http://" + ln.Addr().String() + "/upload", link: testorigin.NewLink(rate)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", s.upload)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) Close() { _ = s.srv.Close() }

func (s *sink) upload(w http.ResponseWriter, r *http.Request) {
	body := s.link.Reader(r.Context(), r.Body)
	buf := make([]byte, testorigin.LinkChunk)
	var crc uint32
	var n int64
	for {
		k, err := body.Read(buf)
		if k > 0 {
			crc = crc32.Update(crc, crcTable, buf[:k])
			n += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	fmt.Fprintf(w, "%d %08x", n, crc)
}

// downlink says how the origin is limited.
type downlink int

const (
	linkTotal         downlink = iota // the rate over all connections: the user's own link
	linkPerConnection                 // the rate per connection: a CDN's limit, which parallel ranges beat
)

// uploadRun is one path's setup: a paced origin, a sink, and a sampler.
type uploadRun struct {
	origin    *origin
	downBytes func() int64 // body bytes the origin has sent
	sink      *sink
	t0        time.Time
	stop      func() []sample
}

func (h *harness) newUploadRun(c testorigin.Content, kind downlink) (*uploadRun, error) {
	var o *origin
	var err error
	var downBytes func() int64
	switch kind {
	case linkPerConnection:
		o, err = startOriginWith(testorigin.Options{Content: c, BytesPerSecond: h.cfg.upRate}, upName, nil)
		if err == nil {
			downBytes = o.BytesServed
		}
	default:
		down := testorigin.NewLink(h.cfg.upRate)
		o, err = startOriginWith(testorigin.Options{Content: c}, upName, down.Handler)
		downBytes = down.Moved
	}
	if err != nil {
		return nil, err
	}
	sk, err := startSink(h.cfg.upRate)
	if err != nil {
		o.Close()
		return nil, err
	}
	return &uploadRun{origin: o, downBytes: downBytes, sink: sk}, nil
}

// start begins the clock and samples both links every 20 ms.
func (u *uploadRun) start() {
	u.t0 = time.Now()
	done := make(chan struct{})
	var mu sync.Mutex
	var out []sample
	tick := time.NewTicker(20 * time.Millisecond)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer tick.Stop()
		for {
			mu.Lock()
			out = append(out, sample{t: time.Since(u.t0), down: u.downBytes(), up: u.sink.link.Moved()})
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	u.stop = func() []sample {
		close(done)
		wg.Wait()
		out = append(out, sample{t: time.Since(u.t0), down: u.downBytes(), up: u.sink.link.Moved()})
		return out
	}
}

func (u *uploadRun) Close() {
	u.sink.Close()
	u.origin.Close()
}

// uploadFile POSTs path to the sink as a browser does with a picked file:
// the length up front, the file read as the upload goes.
func uploadFile(ctx context.Context, sinkURL, path string, f benchFile) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer file.Close()
	// Hide *os.File so the transport reads the file like a browser does
	// instead of handing it to sendfile.
	body := struct{ io.Reader }{file}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sinkURL, body)
	if err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	req.ContentLength = f.size()
	client, done := newClient()
	defer done()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if want := fmt.Sprintf("%d %08x", f.size(), f.crc); resp.StatusCode != http.StatusOK || string(b) != want {
		return fmt.Errorf("upload %s: %w: sink says %s %q, want %q", path, errWrongBytes, resp.Status, strings.TrimSpace(string(b)), want)
	}
	return nil
}

// upload runs the baseline and each path once; it records the ratios under
// upload.<path>.ratio and keeps the time series of this round for the plot.
func (h *harness) upload(ctx context.Context) error {
	c := testorigin.Content{Seed: 7, Size: h.cfg.upSize}
	f := benchFile{content: c, crc: contentCRC(c, 0, c.Size)}
	ctx, cancel := context.WithTimeout(ctx, 3*f.transferTimeout())
	defer cancel()
	d, u, base, err := h.downloadThenUpload(ctx, f)
	if err != nil {
		return err
	}
	// The ideal is the slower link's time for the whole file: known exactly,
	// unlike a measured download, which a loaded machine stretches.
	ideal := float64(f.size()) / float64(h.cfg.upRate)
	h.res.add("upload.dtu.ratio", (d+u).Seconds()/ideal)
	h.res.add("upload.down.s", d.Seconds())
	h.res.add("upload.up.s", u.Seconds())
	all := []series{{label: "download, then upload", samples: base}}
	paths := []struct {
		key, label string
		pick       func(context.Context, *origin, benchFile) (string, func() error, error)
	}{
		{"fuse", "fsm FUSE mount", h.pickFUSE},
		{"rclone", "rclone mount of fsm's WebDAV", h.pickRclone},
		{"gvfs", "gvfs mount of fsm's WebDAV", func(ctx context.Context, o *origin, _ benchFile) (string, func() error, error) {
			return h.gvfsPath(ctx, o)
		}},
	}
	var errs []error
	for _, p := range paths {
		wall, s, err := h.uploadVia(ctx, f, linkTotal, p.pick)
		switch {
		case errors.Is(err, errSkip):
			h.res.skip("upload."+p.key+".ratio", err.Error())
		case err != nil:
			errs = append(errs, fmt.Errorf("upload via %s: %w", p.label, err))
		default:
			h.res.add("upload."+p.key+".ratio", wall.Seconds()/ideal)
			all = append(all, series{label: "fsm: upload from " + p.label, samples: s})
			h.log.Info("measured", "what", "upload via "+p.label, "wall", wall.Round(time.Millisecond),
				"ratio", fmt.Sprintf("%.2f", wall.Seconds()/ideal))
		}
	}
	h.uploadSeries = all
	// The same from the FUSE mount against an origin that limits each
	// connection instead: there fsm's parallel ranges download faster than
	// the upload drains.
	if wall, _, err := h.uploadVia(ctx, f, linkPerConnection, h.pickFUSE); errors.Is(err, errSkip) {
		h.res.skip("upload.fuseconn.ratio", err.Error())
	} else if err != nil {
		errs = append(errs, fmt.Errorf("upload via fsm FUSE mount, origin limited per connection: %w", err))
	} else {
		h.res.add("upload.fuseconn.ratio", wall.Seconds()/ideal)
	}
	return errors.Join(errs...)
}

// errSkip marks a path that cannot run on this machine; its text says why.
var errSkip = errors.New("skipped")

// downloadThenUpload is the baseline: GET the file into a local file, then
// upload that file.
func (h *harness) downloadThenUpload(ctx context.Context, f benchFile) (d, u time.Duration, s []sample, err error) {
	run, err := h.newUploadRun(f.content, linkTotal)
	if err != nil {
		return 0, 0, nil, err
	}
	defer run.Close()
	dir, err := h.mkdir("download")
	if err != nil {
		return 0, 0, nil, err
	}
	path := filepath.Join(dir, upName)
	run.start()
	err = downloadTo(ctx, run.origin.fileURL(), path)
	d = time.Since(run.t0)
	if err == nil {
		err = uploadFile(ctx, run.sink.url, path, f)
	}
	u = time.Since(run.t0) - d
	s = run.stop()
	_ = os.Remove(path)
	h.log.Info("measured", "what", "download then upload", "download", d.Round(time.Millisecond), "upload", u.Round(time.Millisecond))
	return d, u, s, err
}

func downloadTo(ctx context.Context, url, path string) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	_, gerr := get(ctx, url, "", out)
	return errors.Join(gerr, out.Close())
}

// uploadVia stages the file in a fresh fsm, lets pick give the local path
// (and its teardown), and times the upload from opening the file to the
// website's answer.
func (h *harness) uploadVia(ctx context.Context, f benchFile, kind downlink, pick func(context.Context, *origin, benchFile) (string, func() error, error)) (time.Duration, []sample, error) {
	run, err := h.newUploadRun(f.content, kind)
	if err != nil {
		return 0, nil, err
	}
	defer run.Close()
	path, teardown, err := pick(ctx, run.origin, f)
	if err != nil {
		return 0, nil, err
	}
	run.start()
	err = uploadFile(ctx, run.sink.url, path, f)
	wall := time.Since(run.t0)
	s := run.stop()
	return wall, s, errors.Join(err, teardown())
}

// pickFUSE: the file on fsm's own FUSE mount.
func (h *harness) pickFUSE(ctx context.Context, o *origin, _ benchFile) (string, func() error, error) {
	if why := h.fuseSkipReason(); why != "" {
		return "", nil, fmt.Errorf("%w: %s", errSkip, why)
	}
	dir, err := h.mkdir("mnt")
	if err != nil {
		return "", nil, err
	}
	s, err := h.startFSMSources(ctx, h.cfg.fuseBin, dir, []string{o.fileURL()}, []string{upName})
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, upName), s.stop, nil
}

// pickRclone: the file on `rclone mount :webdav:` of fsm's WebDAV, standing
// in for a desktop's WebDAV mount (Finder, gvfs).
func (h *harness) pickRclone(ctx context.Context, o *origin, f benchFile) (string, func() error, error) {
	if h.cfg.rclone == "" {
		return "", nil, fmt.Errorf("%w: rclone not installed", errSkip)
	}
	if why := h.fuseSkipReason(); why != "" {
		return "", nil, fmt.Errorf("%w: %s", errSkip, why)
	}
	s, err := h.startFSMSources(ctx, h.cfg.fsmBin, "", []string{o.fileURL()}, []string{upName})
	if err != nil {
		return "", nil, err
	}
	dir, err := h.mkdir("mnt")
	if err != nil {
		return "", nil, errors.Join(err, s.stop())
	}
	path := filepath.Join(dir, upName)
	m, err := h.launch(ctx, "rclone-mount", func(_, cache string) []string {
		conf := filepath.Join(h.tmp, "rclone.conf")
		_ = os.WriteFile(conf, nil, 0o600)
		return []string{h.cfg.rclone, "mount", ":webdav:", dir, "--webdav-url", s.base, "--read-only",
			"--vfs-cache-mode", "off", "--cache-dir", cache, "--config", conf, "--log-level", "NOTICE"}
	}, dir, -1, false)
	if err == nil {
		err = waitFile(ctx, m.child, path, f.size())
	}
	if err != nil {
		if m != nil {
			err = errors.Join(err, m.stop())
		}
		return "", nil, errors.Join(err, s.stop())
	}
	return path, func() error { return errors.Join(m.stop(), s.stop()) }, nil
}
