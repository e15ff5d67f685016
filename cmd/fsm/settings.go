package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/dustin/go-humanize"
)

// settings are the validated flags.
type settings struct {
	cacheDir string
	fuseDir  string // "" without --fuse
	mount    bool   // --mount: the desktop's WebDAV client mounts the tree
	maxSize  int64
	user     string
	password string
	token    string
	tls      *tls.Config // nil without --tls-cert
}

func (c *serveCmd) validate() (*settings, error) {
	s := &settings{token: c.Token, mount: c.Mount, user: c.User}
	var err error
	if s.cacheDir, err = expandHome(c.CacheDir); err != nil {
		return nil, fmt.Errorf("--cache-dir %s: %w", c.CacheDir, err)
	}
	if s.fuseDir, err = expandHome(c.Fuse); err != nil {
		return nil, fmt.Errorf("--fuse %s: %w", c.Fuse, err)
	}
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
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: want HOST:PORT, such as 127.0.0.1:8080", c.Addr)
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
	if s.tls, err = c.tlsFlags.config(); err != nil {
		return nil, err
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

// expandHome expands a leading ~ (alone or before a separator) to the home
// directory, as a shell would: values from the environment (FSM_CACHE_DIR,
// FSM_FUSE) and quoted flags arrive unexpanded.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot expand ~: %w", err)
	}
	return filepath.Join(home, p[1:]), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
