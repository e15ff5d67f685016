//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"fsm/internal/testorigin"
)

// The stall scenario: a FUSE mount holds a complete file and a file whose
// origin has stopped answering; stallReaders reads wait on the stalled one
// while one read of the complete file is timed. The kernel lets a FUSE
// connection have 12 background (readahead) requests by default, so waiting
// readahead can hold up every page-cache read on the mount.
const (
	stallReaders  = 16
	stallSize     = 64 << 20
	stallOKSize   = 16 << 20
	stallSettle   = 500 * time.Millisecond // for the readers' reads to reach fsm
	stallReadMax  = 60 * time.Second       // a read slower than this is cut and reported as this
	stallFileOK   = "complete.bin"
	stallFileWait = "stalled.bin"
)

func (h *harness) stall(ctx context.Context) error {
	if why := h.fuseSkipReason(); why != "" {
		h.res.skip("stall.fsm.s", why)
		h.res.skip("stall.rclone.s", why)
		return nil
	}
	err := h.stallVia(ctx, "stall.fsm", func(ok, st *origin, dir string) (*server, func(context.Context) error, error) {
		s, err := h.startFSMSources(ctx, h.cfg.fuseBin, dir, []string{ok.fileURL(), st.fileURL()}, []string{stallFileOK, stallFileWait})
		if err != nil {
			return nil, nil, err
		}
		return s, func(ctx context.Context) error { return h.waitHandles(ctx, s, stallFileWait, stallReaders) }, nil
	})
	if h.cfg.rclone == "" {
		h.res.skip("stall.rclone.s", "rclone not installed")
		return err
	}
	// rclone's http remote reads one folder: both files behind one listener.
	return errors.Join(err, h.stallVia(ctx, "stall.rclone", func(ok, st *origin, dir string) (*server, func(context.Context) error, error) {
		both, err := startPair(ok, st)
		if err != nil {
			return nil, nil, err
		}
		h.atExit(both.Close)
		s, err := h.launch(ctx, "rclone-mount", func(_, cache string) []string {
			argv := []string{h.cfg.rclone, "mount", ":http:", dir, "--read-only"}
			return append(argv, h.rcloneArgs(both.base, cache)...)
		}, dir, -1, false)
		if err == nil {
			err = waitFile(ctx, s.child, filepath.Join(dir, stallFileWait), stallSize)
		}
		if err != nil {
			return nil, nil, err
		}
		return s, func(context.Context) error { return nil }, nil
	}))
}

// stallVia runs the stall scenario through one mount, which start makes at
// dir and whose returned wait says when the stalled file's readers are in.
func (h *harness) stallVia(ctx context.Context, key string, start func(ok, st *origin, dir string) (*server, func(context.Context) error, error)) error {
	okc := testorigin.Content{Seed: 5, Size: stallOKSize}
	stc := testorigin.Content{Seed: 6, Size: stallSize}
	ok, err := startOriginWith(testorigin.Options{Content: okc}, stallFileOK, nil)
	if err != nil {
		return err
	}
	defer ok.Close()
	st, err := startOriginWith(testorigin.Options{Content: stc}, stallFileWait, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	dir, err := h.mkdir("mnt")
	if err != nil {
		return err
	}
	s, readersIn, err := start(ok, st, dir)
	if err != nil {
		return err
	}
	err = h.stallRead(ctx, key, dir, okc, st, readersIn)
	return errors.Join(err, s.stop())
}

// pair serves two origins' files from one listener, with an index of both.
type pair struct {
	srv  *http.Server
	base string
}

func startPair(a, b *origin) (*pair, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pair listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<html><body><a href=\"%s\">%s</a>\n<a href=\"%s\">%s</a></body></html>\n", a.name, a.name, b.name, b.name)
	})
	mux.Handle("/"+a.name, a.Origin)
	mux.Handle("/"+b.name, b.Origin)
	p := &pair{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, base: "http://" + ln.Addr().String() + "/"}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *pair) Close() { _ = p.srv.Close() }

func (h *harness) stallRead(ctx context.Context, key, dir string, okc testorigin.Content, st *origin, readersIn func(context.Context) error) error {
	okPath := filepath.Join(dir, stallFileOK)
	okFile := benchFile{content: okc, crc: contentCRC(okc, 0, okc.Size)}
	// Make the file complete (and check it), then drop its pages so the
	// timed read has to go through the mount again.
	if err := readVerified(ctx, okPath, okFile); err != nil {
		return err
	}
	if err := dropPages(okPath); err != nil {
		return err
	}
	release := st.Block()
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { // in this order: readers blocked in the mount need the origin back
		release()
		cancel()
		wg.Wait()
	}()
	for i := range stallReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each reader at its own MiB, so each waits on its own range.
			off := i * (stallSize >> 20) / stallReaders
			_ = exec.CommandContext(rctx, "dd", "if="+filepath.Join(dir, stallFileWait), "of=/dev/null",
				"bs=1M", "count=1", fmt.Sprintf("skip=%d", off), "status=none").Run()
		}()
	}
	if err := readersIn(ctx); err != nil {
		return err
	}
	if err := waitOriginHolds(ctx, st); err != nil {
		return err
	}
	_ = sleepCtx(ctx, stallSettle)
	tctx, tcancel := context.WithTimeout(ctx, stallReadMax)
	defer tcancel()
	t0 := time.Now()
	err := readVerified(tctx, okPath, okFile)
	d := time.Since(t0)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (err != nil && tctx.Err() != nil && ctx.Err() == nil):
		d = stallReadMax // reported as "at least"
		h.log.Warn("stall: the read of the complete file did not finish", "within", stallReadMax)
	case err != nil:
		return err
	}
	h.res.add(key+".s", d.Seconds())
	h.log.Info("measured", "what", key, "read of the complete file", d.Round(time.Millisecond), "waiting GETs", st.Waiting())
	return nil
}

// waitOriginHolds waits until the stalled origin holds a GET: a reader's
// request has reached it.
func waitOriginHolds(ctx context.Context, st *origin) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for st.Waiting() == 0 {
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("stall: %d readers started but no GET reached the stalled origin", stallReaders)
		}
	}
	return nil
}

// waitHandles waits until the control API shows n open handles on name.
func (h *harness) waitHandles(ctx context.Context, s *server, name string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		var f apiFile
		err := getJSON(ctx, apiFileURL(s.base, name), &f)
		if err == nil && f.OpenHandles >= n {
			return nil
		}
		if werr := sleepCtx(ctx, 20*time.Millisecond); werr != nil {
			return fmt.Errorf("stall: %s has %d open handles, want %d (%v)", name, f.OpenHandles, n, err)
		}
	}
}

// readVerified reads path whole with dd bs=1M and checks its bytes.
func readVerified(ctx context.Context, path string, f benchFile) error {
	var sum sumWriter
	if _, err := ddFile(ctx, path, &sum); err != nil {
		return err
	}
	return sum.check(f.size(), f.crc)
}

// dropPages asks the kernel to forget path's cached pages: for this one
// file, unlike drop_caches, which would empty the whole machine's cache.
func dropPages(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("drop cached pages: %w", err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("drop cached pages of %s: %w", path, err)
	}
	return nil
}
