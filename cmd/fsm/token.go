package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A token file holds the control API token on its first line (so a script
// can take it with `head -n 1`), then the pid of the fsm that wrote it and
// the address that fsm listens on:
//
//	4f1c…e9
//	pid 4242
//	addr 127.0.0.1:8080
//
// The CLI sends the token only to a server it has checked is that pid's
// (see verify.go). A file the user wrote for --token-file may hold the
// token alone.
type tokenRecord struct {
	token string
	pid   int    // 0 when the file does not say
	addr  string // "" when the file does not say
}

func (r tokenRecord) marshal() []byte {
	return fmt.Appendf(nil, "%s\npid %d\naddr %s\n", r.token, r.pid, r.addr)
}

// parseToken reads a token file's contents. Lines after the first that it
// does not know are ignored, so a later fsm may add some.
func parseToken(b []byte) (tokenRecord, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	var r tokenRecord
	if sc.Scan() {
		r.token = strings.TrimSpace(sc.Text())
	}
	if r.token == "" {
		return tokenRecord{}, errors.New("no token on its first line")
	}
	for sc.Scan() {
		key, value, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch key {
		case "pid":
			pid, err := strconv.Atoi(value)
			if err != nil || pid <= 0 {
				return tokenRecord{}, fmt.Errorf("pid %q is not a process id", value)
			}
			r.pid = pid
		case "addr":
			r.addr = value
		}
	}
	if err := sc.Err(); err != nil {
		return tokenRecord{}, err
	}
	return r, nil
}

// errBothTokens is the usage error of --token beside --token-file.
var errBothTokens = errors.New("--token and --token-file both give the token: give one of them")

// maxTokenFile bounds what is read of a token file: a few lines.
const maxTokenFile = 4 << 10

// readTokenFile reads the token file at p. With private set (the files fsm
// serve writes) it must be a regular file of this user, never a symbolic
// link; a file the user names with --token-file may be anything readable.
func readTokenFile(p string, private bool) (tokenRecord, error) {
	flags := os.O_RDONLY
	if private {
		if isSymlink(p) {
			return tokenRecord{}, fmt.Errorf("token file %s is a symbolic link, which fsm never writes: refusing it", p)
		}
		flags |= oNoFollow
	}
	f, err := os.OpenFile(p, flags, 0)
	if err != nil {
		return tokenRecord{}, err
	}
	defer f.Close()
	if private {
		fi, err := f.Stat()
		if err != nil {
			return tokenRecord{}, err
		}
		if err := ownFile(fi); err != nil {
			return tokenRecord{}, fmt.Errorf("token file %s: %w", p, err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile))
	if err != nil {
		return tokenRecord{}, err
	}
	r, err := parseToken(b)
	if err != nil {
		return tokenRecord{}, fmt.Errorf("token file %s: %w", p, err)
	}
	return r, nil
}

func isSymlink(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// errTokenRefused marks a token file or folder that fsm serve will not
// write: it was made by someone else or is not what fsm makes. Serve stops
// on it instead of serving with a token the CLI cannot trust.
var errTokenRefused = errors.New("refused")

type refusedError struct{ msg string }

func (e *refusedError) Error() string        { return e.msg }
func (e *refusedError) Is(target error) bool { return target == errTokenRefused }

func refused(format string, args ...any) error {
	return &refusedError{fmt.Sprintf(format, args...)}
}

// writeToken stores the control API token where the CLI looks for it, with
// this process's pid and addr. The file is created new (O_EXCL, never
// through a symbolic link, 0600) in a folder fsm makes 0700 and checks is
// this user's alone. A file already there is replaced only when it is a
// stale one of this user's, left by an fsm that is no longer running: this
// process holds addr's port, so no live fsm can be using it.
func writeToken(addr, token string) (string, error) {
	p, err := tokenFile(addr)
	if err != nil {
		return "", err
	}
	if err := tokenDir(filepath.Dir(p)); err != nil {
		return "", err
	}
	data := tokenRecord{token: token, pid: os.Getpid(), addr: addr}.marshal()
	err = createNew(p, data)
	if errors.Is(err, fs.ErrExist) {
		if err := removeStale(p); err != nil {
			return "", err
		}
		err = createNew(p, data)
	}
	if errors.Is(err, fs.ErrExist) {
		return "", refused("token file %s was created again while fsm replaced it: is another program writing there?", p)
	}
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	return p, nil
}

// tokenDir makes the tokens folder (0700) and checks that it is a real
// folder of this user's that nobody else can write to: whoever can write
// there could swap a token file.
func tokenDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("token folder: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("token folder: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("token folder: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return refused("token folder %s is a symbolic link, which fsm never makes: remove it and start fsm again", dir)
	case !fi.IsDir():
		return refused("token folder %s is not a folder: remove it and start fsm again", dir)
	}
	if err := privateDir(fi); err != nil {
		return refused("token folder %s: %v", dir, err)
	}
	return nil
}

// createNew writes data to a file that must not exist yet.
func createNew(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(p)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

// removeStale removes the token file at p if an fsm of this user's that
// has exited left it there, and refuses anything else.
func removeStale(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return refused("token file %s is a symbolic link, which fsm never makes: refusing to write through it; remove it if it is yours", p)
	case !fi.Mode().IsRegular():
		return refused("token file %s exists and is not a regular file: remove it if it is yours", p)
	}
	if err := ownFile(fi); err != nil {
		return refused("token file %s was created by someone else (%v): refusing it; remove it if it is yours", p, err)
	}
	if r, err := readTokenFile(p, true); err == nil && r.pid != 0 && r.pid != os.Getpid() && processAlive(r.pid) {
		return refused("token file %s belongs to process %d, which is still running: stop it, or remove the file if that is not an fsm", p, r.pid)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("remove the stale token file: %w", err)
	}
	return nil
}

// removeToken removes the token file at p at exit, unless another fsm's
// has replaced it meanwhile.
func removeToken(p string) {
	if r, err := readTokenFile(p, true); err == nil && r.pid == os.Getpid() {
		os.Remove(p)
	}
}
