package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fsm/control"
	"fsm/control/page"
	"fsm/desktop"
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
	Mount        bool     `env:"FSM_MOUNT" help:"Also mount the WebDAV tree with the desktop's own client (Linux gvfs, macOS /Volumes, Windows WebClient), print the local path, unmount at exit."`
	CacheDir     string   `env:"FSM_CACHE_DIR" placeholder:"DIR" help:"Where temp files live (default: the user's cache dir + /fsm). Leftovers of a crashed run are removed at start."`
	CacheMaxSize string   `default:"0" env:"FSM_CACHE_MAX_SIZE" help:"Disk budget, e.g. 512M or 10G (decimal; 512MiB, 10GiB binary; 0: no limit). Idle files are evicted least-recently-used first, never one with open handles."`
	Token        string   `env:"FSM_TOKEN" help:"Bearer token for the control API (default: random). Written to a 0600 file the CLI reads."`
	Host         []string `env:"FSM_HOST" placeholder:"NAME" help:"Extra Host header names to accept besides the listener's loopback names (repeatable)."`
	User         string   `env:"FSM_USER" help:"HTTP basic auth user for everything; required when --addr is not loopback."`
	PasswordFile string   `env:"FSM_PASSWORD_FILE" type:"path" placeholder:"FILE" help:"File holding the basic auth password."`
	logFlags
	tlsFlags
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
	log, closeLog, err := c.logFlags.open()
	if err != nil {
		return err
	}
	defer closeLog()
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
	// serve's own context also ends staging when serve fails.
	ctx, cancel := context.WithCancel(sig.ctx)
	err = s.serve(ctx, c.Sources)
	cancel()
	s.shutdown()
	return err
}

// instance is what `fsm serve` runs: one listener, one store, one tree, and
// the frontends over it.
type instance struct {
	log       *slog.Logger
	cfg       *settings
	ln        net.Listener
	mgr       *store.Manager
	fsys      *vfs.FS
	http      *http.Server
	url       string // the WebDAV root
	tokenPath string // "" when it could not be written
	mnt       atomic.Pointer[fuse.Mounted]
	fuseDir   atomic.Pointer[string] // the live mount's absolute path, for the API
	desktop   atomic.Pointer[desktop.Mounted]
	mounting  chan struct{}   // closed when a --mount attempt has ended; nil without --mount
	staging   <-chan struct{} // closed when the sources given to serve are staged (or failed)
}

// build opens the listener and the store and assembles the handlers;
// nothing is served yet.
func (c *serveCmd) build(log *slog.Logger, cfg *settings) (*instance, error) {
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
	s := &instance{log: log, cfg: cfg, ln: limitListener(ln, maxConns, log), mgr: mgr}
	s.fsys = vfs.New(vfs.Options{Manager: mgr, Logger: log})
	s.ln, s.url = serveTLS(s.ln, cfg.tls, log)
	if s.tokenPath, err = writeToken(ln.Addr().String(), cfg.token); err != nil {
		log.Warn("cannot write the control API token file; the CLI will need --token", "err", err)
	}

	ctl := control.New(control.Options{
		FS:        s.fsys,
		Token:     cfg.token,
		Version:   versionNumber(),
		WebDAVURL: s.url,
		Page:      page.Handler(cfg.token),
		Logger:    log,
		Mounts: func() control.Mounts {
			var m control.Mounts
			if d := s.fuseDir.Load(); d != nil {
				m.FUSE = *d
			}
			if d := s.desktop.Load(); d != nil {
				m.Desktop = d.Path()
			}
			return m
		},
	})
	ctlMux := http.NewServeMux()
	ctlMux.Handle(control.Prefix, ctl) // the control API and page
	var h http.Handler = routes(ctlMux, webdav.NewHandler(s.fsys, webdav.Options{Logger: log}))
	if c.User != "" {
		h = guard.BasicAuth(h, c.User, cfg.password, "fsm")
	}
	h = guard.Host(h, c.Host, ln.Addr().String())
	s.http = newHTTPServer(logRequests(h, log), log)
	s.http.RegisterOnShutdown(ctl.Close)
	return s, nil
}

// serve starts the frontends, stages the command-line sources in the
// background and returns when ctx ends (nil) or a frontend fails.
func (s *instance) serve(ctx context.Context, sources []string) error {
	srvErr := make(chan error, 1)
	go func() { srvErr <- s.http.Serve(s.ln) }()
	s.staging = stageAll(ctx, s.fsys, sources, s.log)

	var mntDone <-chan struct{}
	if s.cfg.fuseDir != "" {
		mnt, err := fuse.Mount(s.fsys, s.cfg.fuseDir, fuse.Options{Logger: s.log})
		if err != nil {
			return fmt.Errorf("--fuse %s: %w", s.cfg.fuseDir, err)
		}
		s.mnt.Store(mnt)
		dir := mnt.Dir()
		s.fuseDir.Store(&dir)
		mntDone = mnt.Done()
	}
	s.log.Info("fsm is serving", "webdav", s.url, "page", s.url+strings.TrimPrefix(control.Prefix, "/"), "sources", len(sources), "cache", s.cfg.cacheDir)
	if s.cfg.mount {
		s.mounting = make(chan struct{})
		go s.mountDesktop(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-mntDone:
			// Someone ran fusermount3 -u: that ends the mount, not fsm.
			s.log.Warn("the FUSE mount was unmounted from outside; WebDAV keeps serving (stop fsm with Ctrl-C or SIGTERM)", "dir", s.cfg.fuseDir)
			s.fuseDir.Store(nil)
			mntDone = nil
		case err := <-srvErr:
			return fmt.Errorf("http server: %w", err)
		}
	}
}

// mountDesktop mounts the WebDAV tree with the desktop's own client. It
// runs beside serving: a mount that fails is logged with its reason and
// fsm keeps serving.
func (s *instance) mountDesktop(ctx context.Context) {
	defer close(s.mounting)
	m, err := desktop.Mount(ctx, s.url, desktop.Options{Logger: s.log, User: s.cfg.user, Password: s.cfg.password})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("--mount failed; WebDAV keeps serving", "err", err)
		}
		return
	}
	s.desktop.Store(m)
	s.log.Info("the tree is mounted by the desktop's WebDAV client", "path", m.Path())
	fmt.Println(m.Path())
}

// unmountDesktop undoes --mount, bounded.
func (s *instance) unmountDesktop(timeout time.Duration) {
	if s.mounting == nil {
		return
	}
	<-s.mounting // cancelled with serve's context, bounded by desktop.Mount
	m := s.desktop.Swap(nil)
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := m.Unmount(ctx); err != nil {
		s.log.Warn("shutdown: the desktop mount was not removed", "path", m.Path(), "err", err)
	}
}

// shutdown lets readers of both frontends finish for drainTimeout, cuts
// what is still running, unmounts and removes the temp files.
func (s *instance) shutdown() {
	// The desktop's client goes first: gvfs keeps the connection of an
	// abandoned read open until it unmounts, which would hold up the
	// server's drain for its whole timeout.
	s.unmountDesktop(unmountTimeout)
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
	if s.staging != nil {
		<-s.staging // cancelled with serve's context
	}
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
func (s *instance) abort(sig os.Signal) {
	s.log.Warn("second signal: exiting now; temp files are left for the next start to remove", "signal", sig.String())
	if mnt := s.mnt.Load(); mnt != nil {
		if err := mnt.Detach(); err != nil {
			s.log.Warn("exit: FUSE mount not removed", "err", err)
		}
	}
	if m := s.desktop.Swap(nil); m != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := m.Unmount(ctx); err != nil {
			s.log.Warn("exit: the desktop mount was not removed", "path", m.Path(), "err", err)
		}
	}
	if s.tokenPath != "" {
		os.Remove(s.tokenPath)
	}
}

// stagingConcurrency bounds the probes of command-line sources running at
// once, so a long list neither floods one origin nor delays the first files.
const stagingConcurrency = 4

// stageAll stages the command-line sources in the background while the
// server already answers: each file appears when its probe is done, and a
// source that fails stays listed as failed with its reason. The returned
// channel closes when every staging has ended.
func stageAll(ctx context.Context, fsys *vfs.FS, sources []string, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	sem := make(chan struct{}, stagingConcurrency)
	var wg sync.WaitGroup
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if _, err := fsys.StageWith(ctx, vfs.Request{URL: src, KeepFailure: true}); err != nil && ctx.Err() == nil {
				log.Error("staging failed; the source stays listed as failed until unstaged", "err", err)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return done
}
