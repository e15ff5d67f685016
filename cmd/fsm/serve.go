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
	"syscall"
	"time"

	"fsm/awake"
	"fsm/control"
	"fsm/control/page"
	"fsm/desktop"
	"fsm/fuse"
	"fsm/guard"
	"fsm/internal/folderlist"
	"fsm/internal/sdnotify"
	"fsm/state"
	"fsm/store"
	"fsm/vfs"
	"fsm/webdav"
)

type serveCmd struct {
	Sources        []string      `arg:"" optional:"" name:"SOURCE" help:"http:// or https:// URLs to stage at start, each optionally named: NAME=URL. The first SOURCE wins a name clash."`
	Header         []string      `sep:"none" placeholder:"'NAME: VALUE'" help:"Request header sent to the origin of the SOURCEs given here, e.g. 'Authorization: Bearer …' (repeatable; never shown)."`
	Persist        bool          `default:"true" env:"FSM_PERSIST" help:"Keep the staged files and their downloaded bytes in --cache-dir across restarts (--persist=false: in memory only, temp files removed at exit)."`
	Addr           string        `default:"127.0.0.1:8080" env:"FSM_ADDR" help:"The one HTTP listener (HOST:PORT): WebDAV, control API and page."`
	Fuse           string        `env:"FSM_FUSE" type:"path" placeholder:"DIR" help:"Also mount the tree at DIR through FUSE (needs a build with -tags fuse; on Linux -tags fuse,fuse3)."`
	Mount          bool          `env:"FSM_MOUNT" help:"Also mount the WebDAV tree with the desktop's own client (Linux gvfs, macOS /Volumes, Windows WebClient), print the local path, unmount at exit."`
	CacheDir       string        `env:"FSM_CACHE_DIR" type:"path" placeholder:"DIR" help:"Where temp files and the staged set live (default: the user's cache dir + /fsm). With --persist one fsm owns it. Leftovers of a crashed run are removed at start."`
	CacheMaxSize   string        `default:"0" env:"FSM_CACHE_MAX_SIZE" help:"Disk budget, e.g. 512M or 10G (decimal; 512MiB, 10GiB binary; 0: no limit). Idle files are evicted least-recently-used first, never one with open handles."`
	Connections    int           `default:"4" env:"FSM_CONNECTIONS" placeholder:"N" help:"Most TCP connections one file downloads over in parallel (1-32). More are tried only while one is slow, and kept only while they deliver more."`
	MaxFiles       int           `default:"100000" env:"FSM_MAX_FILES" placeholder:"N" help:"The most files staged at once; staging beyond fails (code too_many) until some are unstaged."`
	Token          string        `env:"FSM_TOKEN" help:"Bearer token for the control API (default: random). Written to a 0600 file the CLI reads. Shows in ps: prefer --token-file."`
	TokenFile      string        `env:"FSM_TOKEN_FILE" type:"path" placeholder:"FILE" help:"File holding the bearer token (its first line), instead of --token."`
	Host           []string      `env:"FSM_HOST" placeholder:"NAME" help:"Extra Host header names to accept besides the listener's loopback names (repeatable)."`
	User           string        `env:"FSM_USER" and:"auth" help:"HTTP basic auth user for everything; required when --addr is not loopback."`
	PasswordFile   string        `env:"FSM_PASSWORD_FILE" type:"path" and:"auth" placeholder:"FILE" help:"File holding the basic auth password."`
	KeepAwake      bool          `default:"true" negatable:"" env:"FSM_KEEP_AWAKE" help:"Keep the computer from sleeping while a download runs or a staged file is being read (let go within 30 s after)."`
	AfterRead      string        `default:"keep" env:"FSM_AFTER_READ" enum:"keep,evict,unstage" help:"Once every byte of a file has been read and its last handle closed: keep it, evict its downloaded bytes (it stays staged) or unstage it. fsm stage --after-read sets it per file."`
	AfterReadDelay time.Duration `default:"30s" env:"FSM_AFTER_READ_DELAY" help:"How long a fully read file waits, closed, for a new open before --after-read acts."`
	logFlags
	tlsFlags
}

const (
	// drainTimeout is how long readers (WebDAV responses, files open
	// through the mount) get to finish at shutdown before they are cut.
	drainTimeout = 10 * time.Second
	// unmountTimeout bounds each frontend's stop: the FUSE server after
	// the unmount, the WebDAV answers of reads failed at shutdown.
	unmountTimeout = 5 * time.Second
	// closeTimeout bounds closing the store (removing its temp files).
	closeTimeout = 5 * time.Second
)

// Run builds the server, serves until a signal, and shuts down.
func (c *serveCmd) Run() error {
	survivePipes() // before the first log line
	log, closeLog, err := c.logFlags.open()
	if err != nil {
		return err
	}
	defer closeLog()
	slog.SetDefault(log)
	cfg, err := c.validate()
	if err != nil {
		return usageError(err)
	}
	if cfg.fuseDir != "" {
		if err := fuse.Check(cfg.fuseDir); err != nil {
			err = fmt.Errorf("--fuse %s: %w", cfg.fuseDir, err)
			if errors.Is(err, fuse.ErrNotBuilt) {
				return usageError(err) // this binary cannot do what was asked
			}
			return err
		}
	}
	sig := watchSignals(log)
	defer sig.stop()
	s, err := c.build(log, cfg)
	if err != nil {
		return err
	}
	defer s.stopped()
	sig.onAbort(s.abort)
	// serve's own context also ends staging when serve fails.
	ctx, cancel := context.WithCancel(sig.ctx)
	err = s.serve(ctx, cfg.sources)
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
	keeper    *awake.Keeper
	tokenPath string // "" when it could not be written
	// frontends are in start order (see frontend); the list is fixed by
	// build, so the API's goroutines and the signal goroutine read it
	// without a lock.
	frontends []frontend
	started   int             // how many of frontends serve has started; serve's and shutdown's goroutine only
	closing   <-chan error    // the store's Close, once closeStore began it; shutdown's goroutine only
	staging   <-chan struct{} // closed when the sources given to serve are staged (or failed)
	saver     *state.Keeper   // saves the staged set; nil with --persist=false
	saving    <-chan struct{} // closed when the saver's loop has ended
	activity  <-chan struct{} // closed when followActivity has returned; nil before serve
	// stopActivity ends followActivity; set with activity.
	stopActivity context.CancelFunc
	// unmounted and removed are what shutdown took down, for the last
	// log line; shutdown's goroutine only.
	unmounted []string
	removed   []string
}

// kickState asks for the staged set to be saved now (a file was staged or
// unstaged).
func (s *instance) kickState() {
	if s.saver != nil {
		s.saver.Kick()
	}
}

// frontendsFor lists the frontends cfg asks for, in start order: the FUSE
// mount needs nothing else, the WebDAV server serves, and the desktop mount
// is a client of the WebDAV server.
func (s *instance) frontendsFor(cfg *settings) []frontend {
	var fs []frontend
	if cfg.fuseDir != "" {
		fs = append(fs, &fuseFrontend{fsys: s.fsys, dir: cfg.fuseDir, log: s.log})
	}
	fs = append(fs, &webdavFrontend{srv: s.http, ln: s.ln})
	if cfg.mount {
		fs = append(fs, &desktopFrontend{url: s.url, log: s.log, opts: desktop.Options{Logger: s.log, User: cfg.user, Password: cfg.password}})
	}
	return fs
}

// mounts are the local folders the frontends offer now, for the API.
func (s *instance) mounts() []control.Mount {
	var ms []control.Mount
	for _, f := range s.frontends {
		if m, ok := f.mount(); ok {
			ms = append(ms, m)
		}
	}
	return ms
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
	tokenPath, err := writeToken(ln.Addr().String(), cfg.token)
	switch {
	case errors.Is(err, errTokenRefused):
		// Someone else's file or folder where the CLI looks: serving
		// beside it would leave the CLI reading what they wrote.
		ln.Close()
		return nil, err
	case err != nil:
		log.Warn("cannot write the control API token file; the CLI will need --token or --token-file", "err", err)
	}
	mgr, err := store.NewManager(store.Options{Dir: cfg.cacheDir, MaxSize: cfg.maxSize, Connections: cfg.conns, Logger: log, Persist: cfg.persist})
	if err != nil {
		ln.Close()
		if tokenPath != "" {
			removeToken(tokenPath)
		}
		var held *store.HeldError
		if errors.As(err, &held) {
			return nil, fmt.Errorf("--cache-dir %s is %w: its staged files belong to that one; stop it, or give another --cache-dir (or --persist=false)", cfg.cacheDir, held)
		}
		return nil, fmt.Errorf("--cache-dir %s: %w", cfg.cacheDir, err)
	}
	s := &instance{log: log, cfg: cfg, ln: limitListener(ln, maxConns, controlConns, log), mgr: mgr, tokenPath: tokenPath}
	s.fsys = vfs.New(vfs.Options{Manager: mgr, Logger: log, MaxFiles: cfg.maxFiles, Changed: s.kickState, List: folderlist.New(nil, log), AfterRead: cfg.afterRead, AfterReadDelay: cfg.afterReadDelay})
	if cfg.persist {
		s.saver = state.NewKeeper(cfg.cacheDir, log, s.fsys.Saved, mgr.Arrived)
		s.fsys.Restore(state.Load(cfg.cacheDir, log))
		mgr.PruneTemps()
	}
	s.keeper = newKeeper(log, !cfg.keepAwake)
	s.ln, s.url = serveTLS(s.ln, cfg.tls, log)

	ctl := control.New(control.Options{
		FS:        s.fsys,
		Token:     cfg.token,
		Version:   versionNumber(),
		WebDAVURL: s.url,
		Page:      page.Handler(cfg.token),
		Logger:    log,
		Mounts:    s.mounts,
		KeepAwake: s.keepAwakeStatus,
	})
	ctlMux := http.NewServeMux()
	ctlMux.Handle(control.Prefix, ctl) // the control API and page
	var h http.Handler = routes(ctlMux, webdav.NewHandler(s.fsys, webdav.Options{Logger: log}))
	if c.User != "" {
		h = guard.BasicAuth(h, c.User, cfg.password, "fsm")
	} else {
		h = guard.Owner(h, log) // with --user, the password is the boundary
	}
	h = guard.Host(h, c.Host, ln.Addr().String())
	s.http = newHTTPServer(logRequests(h, log), log)
	s.http.RegisterOnShutdown(ctl.Close)
	s.frontends = s.frontendsFor(cfg)
	return s, nil
}

// serve stages the command-line sources in the background, starts the
// frontends and returns when ctx ends (nil) or a frontend fails.
func (s *instance) serve(ctx context.Context, sources []source) error {
	if s.saver != nil {
		saving := make(chan struct{})
		s.saving = saving
		go func() {
			defer close(saving)
			s.saver.Run(ctx)
		}()
	}
	s.staging = stageAll(ctx, s.fsys, sources, s.cfg.header, s.log)
	// Not serve's context: the reads that drain at shutdown are transfers
	// too, so the count goes on until shutdown has closed the store.
	actx, stopActivity := context.WithCancel(context.WithoutCancel(ctx))
	s.stopActivity = stopActivity
	s.activity = followActivity(actx, s.fsys, s.keeper)
	failed := make(chan error, len(s.frontends))
	fail := func(err error) {
		select {
		case failed <- err:
		default: // one failure per frontend is all serve needs
		}
	}
	for _, f := range s.frontends {
		if err := f.start(ctx, fail); err != nil {
			return err
		}
		s.started++
	}
	s.log.Info("fsm is serving", "webdav", s.url, "page", s.url+strings.TrimPrefix(control.Prefix, "/"), "sources", len(sources), "cache", s.cfg.cacheDir)
	if err := sdnotify.Ready(); err != nil {
		s.log.Warn("cannot tell the service manager fsm is ready", "err", err)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}

// shutdown lets the readers of every frontend finish for drainTimeout,
// fails what is still running, takes the frontends down and removes the
// temp files.
func (s *instance) shutdown() {
	if err := sdnotify.Stopping(); err != nil {
		s.log.Warn("cannot tell the service manager fsm is stopping", "err", err)
	}
	started := s.frontends[:s.started]
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	// One after another under one deadline: the readers of a frontend not
	// drained yet are served meanwhile, so the wait is the longest drain,
	// not their sum.
	cut := false
	for i := len(started) - 1; i >= 0; i-- {
		if err := started[i].drain(ctx); err != nil {
			s.log.Warn("shutdown: failing the reads still running", "frontend", started[i].name(), "err", err)
			cut = true
		}
	}
	// Reads still waiting for an origin are failed before any connection
	// is closed, so each gets its answer (WebDAV: 503 "fsm is shutting
	// down"; FUSE: EIO) instead of a cut connection. Closing the store
	// fails them; it waits for them to return, and they return only once
	// stop has let their answers leave, so its bound covers both.
	if cut {
		s.closeStore(unmountTimeout + closeTimeout)
	}
	for _, m := range s.mounts() {
		s.unmounted = append(s.unmounted, m.Dir)
	}
	for i := len(s.frontends) - 1; i >= 0; i-- {
		f := s.frontends[i]
		sctx, cancel := context.WithTimeout(context.Background(), unmountTimeout)
		// A FUSE mount still in use is detached by now: worth a warning,
		// not a failed exit.
		if err := f.stop(sctx); err != nil {
			s.log.Warn("shutdown: did not stop cleanly", "frontend", f.name(), "err", err)
		}
		cancel()
	}
	s.ln.Close() // a failed start may have left it unserved
	if s.staging != nil {
		<-s.staging // cancelled with serve's context
	}
	if s.closing == nil {
		s.closeStore(closeTimeout)
	}
	if err := <-s.closing; err != nil {
		s.log.Warn("shutdown: temp files left for the next start to remove", "err", err)
	} else {
		s.removed = append(s.removed, s.mgr.Dir())
	}
	if s.activity != nil {
		s.stopActivity()
		<-s.activity
	}
	kctx, cancel := context.WithTimeout(context.Background(), keeperCloseTimeout)
	if err := s.keeper.Close(kctx); err != nil {
		s.log.Warn("shutdown: sleep lock not released yet", "err", err)
	}
	cancel()
	if s.saver != nil {
		if s.saving != nil {
			<-s.saving // ended with serve's context
		}
		// The stores are closed: what they kept is final.
		s.saver.Save()
	}
	if s.tokenPath != "" {
		if removeToken(s.tokenPath) {
			s.removed = append(s.removed, s.tokenPath)
		}
	}
}

// stopped writes the last line of a run, after shutdown: what it took down,
// so a log read later shows nothing was left behind.
func (s *instance) stopped() {
	s.log.Info("fsm stopped", "unmounted", listOrNone(s.unmounted), "removed", listOrNone(s.removed))
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "nothing"
	}
	return strings.Join(l, ", ")
}

// closeStore refuses new stagings and closes the store in the background,
// bounded by timeout: reads still waiting fail with store.ErrClosed, and
// the temp files go once they have returned. s.closing has the result.
func (s *instance) closeStore(timeout time.Duration) {
	s.fsys.Close()
	done := make(chan error, 1)
	s.closing = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done <- s.mgr.Close(ctx)
	}()
}

// abort is a second signal's exit: take every frontend down without
// waiting (never leave a dead mount behind) and go; the next start removes
// the temp files. Start order puts the FUSE detach, which never waits,
// before the desktop unmount, which may.
func (s *instance) abort(sig os.Signal) {
	s.log.Warn("second signal: exiting now; temp files are left for the next start to resume or remove", "signal", sig.String())
	for _, f := range s.frontends {
		f.abort()
	}
	if s.tokenPath != "" {
		removeToken(s.tokenPath)
	}
}
