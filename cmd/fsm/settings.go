package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/dustin/go-humanize"
)

// maxLanes bounds --connections: as many as the origin transport keeps
// for one host.
const maxLanes = 32

// settings are the validated flags.
type settings struct {
	cacheDir string
	fuseDir  string // "" without --fuse
	mount    bool   // --mount: the desktop's WebDAV client mounts the tree
	maxSize  int64
	conns    int // --connections
	maxFiles int
	user     string
	password string
	token    string
	persist  bool        // --persist: the staged set survives restarts
	sources  []source    // the SOURCEs, parsed
	header   http.Header // --header, for the SOURCEs; nil if none
}

func (c *serveCmd) validate() (*settings, error) {
	s := &settings{token: c.Token, mount: c.Mount, user: c.User, persist: c.Persist}
	var err error
	if s.sources, err = parseSources(c.Sources); err != nil {
		return nil, err
	}
	hs, err := parseHeaders(c.Header)
	if err != nil {
		return nil, err
	}
	s.header = toHeader(hs)
	// ~ in both is expanded already (type:"path": homePathMapper).
	s.cacheDir, s.fuseDir = c.CacheDir, c.Fuse
	if s.cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("--cache-dir: no default (%w); give one", err)
		}
		s.cacheDir = filepath.Join(base, "fsm")
	}
	// go-humanize's own error is strconv's ("parsing \"\": invalid
	// syntax"): it says nothing the message below does not.
	size, err := humanize.ParseBytes(c.CacheMaxSize)
	if err != nil {
		return nil, fmt.Errorf("--cache-max-size %q: want a size such as 512M (10^6 bytes), 512MiB (2^20) or 10G; 0 for no limit", c.CacheMaxSize)
	}
	s.maxSize = int64(size)
	if c.Connections < 1 || c.Connections > maxLanes {
		return nil, fmt.Errorf("--connections %d: want 1 to %d", c.Connections, maxLanes)
	}
	s.conns = c.Connections
	if c.MaxFiles < 1 {
		return nil, fmt.Errorf("--max-files %d: want at least 1", c.MaxFiles)
	}
	s.maxFiles = c.MaxFiles
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: want HOST:PORT, such as 127.0.0.1:8080", c.Addr)
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
	if c.TokenFile != "" {
		if c.Token != "" {
			return nil, errBothTokens
		}
		r, err := readTokenFile(c.TokenFile, false)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		s.token = r.token
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
