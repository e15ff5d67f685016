package main

import (
	"fmt"
	"os"
	"path/filepath"
)

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
