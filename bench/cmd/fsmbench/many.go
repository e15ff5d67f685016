//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fsm/internal/testorigin"
)

// manySize is each small file's size in the many-files scenario.
const manySize = 4 << 10

// manyOrigin serves n small files /mNNNNN.bin (and an HTML index linking
// them all, for rclone's http backend) from one listener.
type manyOrigin struct {
	srv  *http.Server
	base string
	n    int
}

func manyName(i int) string { return fmt.Sprintf("m%05d.bin", i) }

func startManyOrigin(n int) (*manyOrigin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("many-files origin listen: %w", err)
	}
	o := &manyOrigin{base: "http://" + ln.Addr().String() + "/", n: n}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", o.index)
	mux.HandleFunc("/{name}", o.file)
	o.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = o.srv.Serve(ln) }()
	return o, nil
}

func (o *manyOrigin) Close() { _ = o.srv.Close() }

func (o *manyOrigin) index(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	b.WriteString("<html><body>\n")
	for i := range o.n {
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>\n", manyName(i), manyName(i))
	}
	b.WriteString("</body></html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, b.String())
}

// file serves mNNNNN.bin with net/http's Range handling: this origin is
// about many names, not about fault injection.
func (o *manyOrigin) file(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	num, ok := strings.CutSuffix(strings.TrimPrefix(name, "m"), ".bin")
	i, err := strconv.Atoi(num)
	if !ok || err != nil || i < 0 || i >= o.n || name != manyName(i) {
		http.NotFound(w, r)
		return
	}
	c := testorigin.Content{Seed: uint64(1000 + i), Size: manySize}
	w.Header().Set("ETag", fmt.Sprintf("\"m%d\"", i))
	http.ServeContent(w, r, name, testorigin.DefaultLastModified, io.NewSectionReader(c, 0, c.Size))
}

// manyFiles stages cfg.files small files from one origin in one fsm (given
// on the command line, staged in the background), and once all are staged
// measures fsm's open descriptors and RSS and the time of a PROPFIND Depth 1
// of the root; rclone serve webdav over the same origin's index is the
// baseline (its first listing, which fetches the index, is not timed).
func (h *harness) manyFiles(ctx context.Context) error {
	o, err := startManyOrigin(h.cfg.files)
	if err != nil {
		return err
	}
	defer o.Close()
	sources := make([]string, h.cfg.files)
	for i := range sources {
		sources[i] = o.base + manyName(i)
	}
	t0 := time.Now()
	s, err := h.startFSMSources(ctx, h.cfg.fsmBin, "", sources, nil)
	if err != nil {
		return err
	}
	err = h.waitAllStaged(ctx, s, h.cfg.files)
	if err == nil {
		h.res.add("many.fsm.stage", time.Since(t0).Seconds())
		err = h.measureMany(ctx, "many.fsm", s, false)
	}
	err = errors.Join(err, s.stop())
	if h.cfg.rclone == "" {
		h.res.skip("many.rclone.fds", "rclone not installed")
		return err
	}
	r, rerr := h.startRcloneWebDAV(ctx, o.base)
	if rerr == nil {
		rerr = errors.Join(h.measureMany(ctx, "many.rclone", r, true), r.stop())
	}
	return errors.Join(err, rerr)
}

// waitAllStaged polls the file list until n files are listed and none is
// probing; a failed one is a harness error.
func (h *harness) waitAllStaged(ctx context.Context, s *server, n int) error {
	ctx, cancel := context.WithTimeout(ctx, stageTimeout)
	defer cancel()
	last := "no answer"
	for {
		if s.exited() {
			return s.diedError()
		}
		fs, err := listFiles(ctx, s.base)
		if err == nil {
			probing := 0
			for _, f := range fs {
				switch f.State {
				case "failed":
					return fmt.Errorf("fsm: staging %s failed: %s", f.Name, f.Error)
				case "probing":
					probing++
				}
			}
			if len(fs) >= n && probing == 0 {
				return nil
			}
			last = fmt.Sprintf("%d listed, %d probing", len(fs), probing)
		}
		if werr := sleepCtx(ctx, 100*time.Millisecond); werr != nil {
			return fmt.Errorf("fsm: %d sources not staged within %v (last: %s, %v)", n, stageTimeout, last, err)
		}
	}
}

// measureMany times PROPFIND Depth 1 of the root (median of three; after
// one untimed listing when warmUp) and then reads the server's descriptors
// and resident memory.
func (h *harness) measureMany(ctx context.Context, key string, s *server, warmUp bool) error {
	if warmUp {
		if _, err := propfindCount(ctx, s.base); err != nil {
			return err
		}
	}
	var best []float64
	for range 3 {
		t0 := time.Now()
		n, err := propfindCount(ctx, s.base)
		if err != nil {
			return err
		}
		if n < h.cfg.files {
			return fmt.Errorf("%s: PROPFIND lists %d files, want %d", s.name, n, h.cfg.files)
		}
		best = append(best, ms(time.Since(t0)))
	}
	h.res.add(key+".propfind", median(best))
	fds, err := s.openFDs()
	if err != nil {
		return err
	}
	rss, err := s.memStat("VmRSS")
	if err != nil {
		return err
	}
	h.res.add(key+".fds", float64(fds))
	h.res.add(key+".rss", rss)
	h.log.Info("measured", "what", key, "files", h.cfg.files, "fds", fds, "RSS MiB", fmt.Sprintf("%.0f", rss),
		"PROPFIND ms", fmt.Sprintf("%.0f", median(best)))
	return nil
}

// propfindCount lists dirURL with Depth 1 and counts the small files listed.
func propfindCount(ctx context.Context, dirURL string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "PROPFIND", dirURL, nil)
	if err != nil {
		return 0, fmt.Errorf("PROPFIND %s: %w", dirURL, err)
	}
	req.Header.Set("Depth", "1")
	client, done := newClient()
	defer done()
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("PROPFIND %s: %w", dirURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("PROPFIND %s: read: %w", dirURL, err)
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return 0, fmt.Errorf("PROPFIND %s: status %s, want 207", dirURL, resp.Status)
	}
	// One href per listed file; both servers use the "D:" prefix.
	return bytes.Count(bytes.ToLower(body), []byte(".bin</d:href>")), nil
}

func median(v []float64) float64 { return measure{samples: v}.value() }
