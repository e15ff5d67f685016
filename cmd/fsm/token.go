package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// tokenFile is where the control API token of the server listening at addr
// (HOST:PORT) is kept: the user's cache folder, whatever --cache-dir says,
// so `fsm stage|ls|unstage` find it knowing only the address.
func tokenFile(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("server address %q: want HOST:PORT", addr)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", errors.New("no user cache folder for the token file (set HOME or XDG_CACHE_HOME)")
	}
	name := strings.NewReplacer(":", "_", "%", "_").Replace(host) + "_" + port
	return filepath.Join(base, "fsm", "tokens", name), nil
}

// writeToken stores the control API token where the CLI looks for it, 0600.
func writeToken(addr, token string) (string, error) {
	p, err := tokenFile(addr)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("token folder: %w", err)
	}
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	return p, nil
}
