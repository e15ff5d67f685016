package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"fsm/control"
	"fsm/control/page"
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
	CacheMaxSize string   `default:"0" env:"FSM_CACHE_MAX_SIZE" help:"Disk budget, e.g. 512M or 10G (0: no limit). Idle files are evicted least-recently-used first, never one with open handles."`
	Token        string   `env:"FSM_TOKEN" help:"Bearer token for the control API (default: random). Written to a 0600 file the CLI reads."`
	Host         []string `env:"FSM_HOST" placeholder:"NAME" help:"Extra Host header names to accept besides the listener's loopback names (repeatable)."`
	User         string   `env:"FSM_USER" help:"HTTP basic auth user for everything; required when --addr is not loopback."`
	PasswordFile string   `env:"FSM_PASSWORD_FILE" type:"path" placeholder:"FILE" help:"File holding the basic auth password."`
	LogLevel     string   `default:"info" env:"FSM_LOG_LEVEL" enum:"debug,info,warn,error" help:"Log level: debug, info, warn or error."`
}

// settings are the validated flags.
type settings struct {
	cacheDir string
	maxSize  int64
	password string
	token    string
}

func (c *serveCmd) validate() (*settings, error) {
	s := &settings{cacheDir: c.CacheDir, token: c.Token}
	if s.cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("--cache-dir: no user cache dir (%v); give one", err)
		}
		s.cacheDir = filepath.Join(base, "fsm")
	}
	size, err := humanize.ParseBytes(c.CacheMaxSize)
	if err != nil {
		return nil, fmt.Errorf("--cache-max-size %q: want a size such as 512M or 10G: %w", c.CacheMaxSize, err)
	}
	s.maxSize = int64(size)
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: want HOST:PORT: %w", c.Addr, err)
	}
	if (c.User == "") != (c.PasswordFile == "") {
		return nil, errors.New("--user and --password-file go together: give both or neither")
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("--password-file: %w", err)
		}
		s.password = strings.TrimRight(string(b), "\r\n")
		if s.password == "" {
			return nil, fmt.Errorf("--password-file %s is empty", c.PasswordFile)
		}
	}
	if !isLoopback(host) && c.User == "" {
		return nil, fmt.Errorf("--addr %s is not a loopback address: anyone on the network could read your files; set --user and --password-file", c.Addr)
	}
	if s.token == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("make token: %w", err)
		}
		s.token = hex.EncodeToString(b)
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func (c *serveCmd) Run() error {
	log := newLogger(c.LogLevel)
	slog.SetDefault(log)
	cfg, err := c.validate()
	if err != nil {
		return &exitError{2, err}
	}
	if c.Fuse != "" {
		if err := fuse.Check(c.Fuse); err != nil {
			code := 1
			if errors.Is(err, fuse.ErrNotBuilt) {
				code = 2
			}
			return &exitError{code, fmt.Errorf("--fuse %s: %w", c.Fuse, err)}
		}
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another fsm running? choose another --addr)", c.Addr, err)
	}
	mgr, err := store.NewManager(store.Options{Dir: cfg.cacheDir, MaxSize: cfg.maxSize, Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	fsys := vfs.New(vfs.Options{Manager: mgr, Logger: log})
	tokenPath, err := writeToken(ln.Addr().String(), cfg.token)
	if err != nil {
		log.Warn("cannot write the control API token file; the CLI will need --token", "err", err)
	}

	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	shutdown := func() {
		// A second signal now kills the process at once (default action);
		// the next start sweeps what that leaves behind.
		stopSignals()
		fsys.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := mgr.Close(ctx); err != nil {
			log.Warn("shutdown: temp files left for the next start to remove", "err", err)
		}
		if tokenPath != "" {
			os.Remove(tokenPath)
		}
	}

	url := "http://" + ln.Addr().String() + "/"
	var fuseDir atomic.Pointer[string]
	ctl := control.New(control.Options{
		FS:        fsys,
		Token:     cfg.token,
		Version:   version,
		WebDAVURL: url,
		Page:      page.Handler(cfg.token),
		Logger:    log,
		Mounts: func() control.Mounts {
			var m control.Mounts
			if d := fuseDir.Load(); d != nil {
				m.FUSE = *d
			}
			return m
		},
	})
	mux := http.NewServeMux()
	mux.Handle(control.Prefix, ctl)
	mux.Handle("/", webdav.NewHandler(fsys, webdav.Options{Logger: log}))
	var h http.Handler = mux
	if c.User != "" {
		h = guard.BasicAuth(h, c.User, cfg.password, "fsm")
	}
	h = guard.Host(h, c.Host, ln.Addr().String())
	srv := &http.Server{
		Handler: h,
		// No WriteTimeout: it would cut long streams of large files.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(ctl.Close)
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	stagingDone := stageAll(sigCtx, fsys, c.Sources, log)

	var mnt *fuse.Mounted
	var mntDone <-chan struct{}
	if c.Fuse != "" {
		mnt, err = fuse.Mount(fsys, c.Fuse, fuse.Options{Logger: log})
		if err != nil {
			srv.Close()
			shutdown()
			return fmt.Errorf("--fuse %s: %w", c.Fuse, err)
		}
		mntDone = mnt.Done()
		dir := c.Fuse
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		fuseDir.Store(&dir)
	}
	log.Info("fsm is serving", "webdav", url, "page", url+strings.TrimPrefix(control.Prefix, "/"), "sources", len(c.Sources), "cache", cfg.cacheDir)

	var runErr error
	select {
	case <-sigCtx.Done():
		log.Info("signal received; shutting down (a second signal exits at once)")
	case <-mntDone:
		log.Info("FUSE mount ended; shutting down", "dir", c.Fuse)
		mnt = nil
	case err := <-srvErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	stopSignals()

	// Let in-flight reads finish for a while, then cancel the rest.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn("shutdown: cancelling reads still running", "err", err)
			srv.Close()
		}
	}()
	if mnt != nil {
		// A process still holding a file or its working directory in the
		// mount delays the unmount; the mount is detached and its reads
		// failed by then, so this is worth a warning, not a failed exit.
		if err := mnt.Unmount(ctx); err != nil {
			log.Warn("shutdown: unmount did not finish cleanly", "dir", c.Fuse, "err", err)
		}
	}
	wg.Wait()
	<-stagingDone // cancelled with the signal context
	shutdown()
	return runErr
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
