package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fsm/fuse"
	"fsm/guard"
	"fsm/store"
	"fsm/vfs"
	"fsm/webdav"
)

type serveCmd struct {
	Sources      []string `arg:"" optional:"" name:"SOURCE" help:"http:// or https:// URLs to stage at start."`
	Addr         string   `default:"127.0.0.1:8080" env:"FSM_ADDR" help:"The one HTTP listener (HOST:PORT): WebDAV, control API and page."`
	Fuse         string   `env:"FSM_FUSE" placeholder:"DIR" help:"Also mount the tree at DIR through FUSE (needs a build with -tags fuse; on Linux -tags fuse,fuse3)."`
	CacheDir     string   `env:"FSM_CACHE_DIR" placeholder:"DIR" help:"Where temp files live (default: the user's cache dir + /fsm). Leftovers of a crashed run are removed at start."`
	CacheMaxSize string   `default:"0" env:"FSM_CACHE_MAX_SIZE" help:"Disk budget, e.g. 512M or 10G (decimal; 512MiB, 10GiB binary; 0: no limit). Idle files are evicted least-recently-used first, never one with open handles."`
	Token        string   `env:"FSM_TOKEN" help:"Bearer token for the control API (default: random). Written to a 0600 file the CLI reads."`
	Host         []string `env:"FSM_HOST" placeholder:"NAME" help:"Extra Host header names to accept besides the listener's loopback names (repeatable)."`
	User         string   `env:"FSM_USER" help:"HTTP basic auth user for everything; required when --addr is not loopback."`
	PasswordFile string   `env:"FSM_PASSWORD_FILE" type:"path" placeholder:"FILE" help:"File holding the basic auth password."`
	LogLevel     string   `default:"info" env:"FSM_LOG_LEVEL" enum:"debug,info,warn,error" help:"Log level: debug, info, warn or error."`
}

const (
	// drainTimeout is how long readers (WebDAV responses, files open
	// through the mount) get to finish at shutdown before they are cut.
	drainTimeout = 10 * time.Second
	// unmountTimeout bounds waiting for the FUSE server after the unmount.
	unmountTimeout = 5 * time.Second
	// closeTimeout bounds closing the store (removing its temp files).
	closeTimeout = 5 * time.Second
)

// Run builds the server, serves until a signal, and shuts down.
func (c *serveCmd) Run() error {
	log := newLogger(c.LogLevel)
	slog.SetDefault(log)
	cfg, err := c.validate()
	if err != nil {
		return &exitError{2, err}
	}
	if cfg.fuseDir != "" {
		if err := fuse.Check(cfg.fuseDir); err != nil {
			code := 1
			if errors.Is(err, fuse.ErrNotBuilt) {
				code = 2
			}
			return &exitError{code, fmt.Errorf("--fuse %s: %w", cfg.fuseDir, err)}
		}
	}
	sig := watchSignals(log)
	defer sig.stop()
	s, err := c.build(log, cfg)
	if err != nil {
		return err
	}
	sig.onAbort(s.abort)
	err = s.serve(sig.ctx, c.Sources)
	s.shutdown()
	return err
}

// server is what `fsm serve` runs: one listener, one store, one tree, and
// the frontends over it.
type server struct {
	log       *slog.Logger
	cfg       *settings
	ln        net.Listener
	mgr       *store.Manager
	fsys      *vfs.FS
	http      *http.Server
	tokenPath string // "" when it could not be written
	mnt       atomic.Pointer[fuse.Mounted]
}

// build opens the listener and the store and assembles the handlers;
// nothing is served yet.
func (c *serveCmd) build(log *slog.Logger, cfg *settings) (*server, error) {
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err // without "listen tcp ADDR" again
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen on %s: %w (is another fsm running? choose another --addr)", c.Addr, err)
		}
		return nil, fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	mgr, err := store.NewManager(store.Options{Dir: cfg.cacheDir, MaxSize: cfg.maxSize, Logger: log})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--cache-dir %s: %w", cfg.cacheDir, err)
	}
	s := &server{log: log, cfg: cfg, ln: limitListener(ln, maxConns, log), mgr: mgr}
	s.fsys = vfs.New(vfs.Options{Manager: mgr, Logger: log})
	if s.tokenPath, err = writeToken(cfg.cacheDir, c.Addr, cfg.token); err != nil {
		log.Warn("cannot write the control API token file; the CLI will need --token", "err", err)
	}

	control := http.NewServeMux()
	control.Handle("/.fsm/", http.NotFoundHandler()) // control API and page: reserved
	var h http.Handler = routes(control, webdav.NewHandler(s.fsys, webdav.Options{Logger: log}))
	if c.User != "" {
		h = guard.BasicAuth(h, c.User, cfg.password, "fsm")
	}
	h = guard.Host(h, c.Host, ln.Addr().String())
	s.http = newHTTPServer(h, log)
	return s, nil
}

// serve stages the command-line sources, starts the frontends and returns
// when ctx ends (nil) or a frontend fails.
func (s *server) serve(ctx context.Context, sources []string) error {
	if err := stageAll(ctx, s.fsys, sources); err != nil {
		if ctx.Err() != nil {
			s.log.Info("signal received while staging; stopped")
			return nil
		}
		return err
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- s.http.Serve(s.ln) }()

	var mntDone <-chan struct{}
	if s.cfg.fuseDir != "" {
		mnt, err := fuse.Mount(s.fsys, s.cfg.fuseDir, fuse.Options{Logger: s.log})
		if err != nil {
			return fmt.Errorf("--fuse %s: %w", s.cfg.fuseDir, err)
		}
		s.mnt.Store(mnt)
		mntDone = mnt.Done()
	}
	s.log.Info("fsm is serving", "webdav", "http://"+s.ln.Addr().String()+"/", "files", len(sources), "cache", s.cfg.cacheDir)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-mntDone:
			// Someone ran fusermount3 -u: that ends the mount, not fsm.
			s.log.Warn("the FUSE mount was unmounted from outside; WebDAV keeps serving (stop fsm with Ctrl-C or SIGTERM)", "dir", s.cfg.fuseDir)
			mntDone = nil
		case err := <-srvErr:
			return fmt.Errorf("http server: %w", err)
		}
	}
}

// shutdown lets readers of both frontends finish for drainTimeout, cuts
// what is still running, unmounts and removes the temp files.
func (s *server) shutdown() {
	mnt := s.mnt.Load()
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.http.Shutdown(ctx); err != nil {
			s.log.Warn("shutdown: cancelling WebDAV reads still running", "err", err)
			s.http.Close()
		}
	}()
	if mnt != nil {
		if err := mnt.Drain(ctx); err != nil {
			s.log.Warn("shutdown: failing FUSE reads still running", "err", err)
		}
	}
	wg.Wait()
	s.ln.Close() // when serve never got to Serve
	if mnt != nil {
		uctx, cancel := context.WithTimeout(context.Background(), unmountTimeout)
		defer cancel()
		// A process still holding a file or its working directory in the
		// mount delays the unmount; the mount is detached and its reads
		// failed by then, so this is worth a warning, not a failed exit.
		if err := mnt.Unmount(uctx); err != nil {
			s.log.Warn("shutdown: unmount did not finish cleanly", "err", err)
		}
	}
	s.fsys.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), closeTimeout)
	defer ccancel()
	if err := s.mgr.Close(cctx); err != nil {
		s.log.Warn("shutdown: temp files left for the next start to remove", "err", err)
	}
	if s.tokenPath != "" {
		os.Remove(s.tokenPath)
	}
}

// abort is a second signal's exit: detach the mount (never leave a dead
// one behind) and go; the next start removes the temp files.
func (s *server) abort(sig os.Signal) {
	s.log.Warn("second signal: exiting now; temp files are left for the next start to remove", "signal", sig.String())
	if mnt := s.mnt.Load(); mnt != nil {
		if err := mnt.Detach(); err != nil {
			s.log.Warn("exit: FUSE mount not removed", "err", err)
		}
	}
	if s.tokenPath != "" {
		os.Remove(s.tokenPath)
	}
}

// stageAll stages the command-line sources concurrently; any failure stops
// the start with the reason, since the user asked for exactly these files.
func stageAll(ctx context.Context, fsys *vfs.FS, sources []string) error {
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = fsys.Stage(ctx, src, "")
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeToken stores the control API token where `fsm stage|ls|unstage` look
// for it: one 0600 file per listener address in the cache dir.
func writeToken(cacheDir, addr, token string) (string, error) {
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(cacheDir, "token-"+strings.NewReplacer(":", "_", "[", "", "]", "").Replace(addr))
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	return p, nil
}
