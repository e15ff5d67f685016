// Package desktop mounts a WebDAV server with the operating system's own
// WebDAV client, so that a local path to the tree exists without any FUSE
// driver of ours: gvfs (what GNOME Files uses) on Linux, the kernel's
// webdavfs (what Finder's "Connect to Server" uses) on macOS, and the
// WebClient service (what Explorer's "Map network drive" uses) on Windows.
//
// Each client is driven through the command a user would type (gio,
// mount_webdav, net use); a failure says in one line what is missing and
// what to install. Mount never takes over what it did not make: a location
// that is already mounted (by the user, by an earlier run) is reused and
// left mounted at Unmount.
package desktop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure Mount.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
	// User and Password are the server's basic-auth credentials, if it
	// needs them. They reach the client on its standard input where it
	// reads them from there (gio), on its command line otherwise.
	User, Password string
	// Env is added to the environment of the client commands (later
	// entries win), e.g. DBUS_SESSION_BUS_ADDRESS of a private session.
	Env []string
}

// Mounted is a tree mounted by Mount.
type Mounted struct {
	path string
	log  *slog.Logger
	// undo unmounts; nil when Mount found the location already mounted
	// and so must leave it as it was.
	undo func(context.Context) error

	once sync.Once // guards a single unmount
	err  error     // the unmount's outcome, set inside once
}

// mountTimeout bounds a mount whose context has no deadline: a desktop
// client that never answers must not hold up the server's start.
const mountTimeout = 60 * time.Second

// Mount asks the desktop's WebDAV client to mount rawURL (http://HOST:PORT/)
// and returns once the local path answers.
func Mount(ctx context.Context, rawURL string, opts Options) (*Mounted, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("desktop mount: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" {
		return nil, fmt.Errorf("desktop mount %q: want http://HOST:PORT/", rawURL)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, mountTimeout)
		defer cancel()
	}
	c := client{env: opts.Env, log: log}
	m, err := mountOS(ctx, c, u, opts)
	if err != nil {
		return nil, err
	}
	m.log = log
	if m.undo == nil {
		log.Info("desktop mount: already mounted before fsm started; reusing it, and leaving it mounted at exit", "url", u.Redacted(), "path", m.path)
	} else {
		log.Info("desktop mount", "url", u.Redacted(), "path", m.path)
	}
	return m, nil
}

// Path is the local path of the tree's root.
func (m *Mounted) Path() string { return m.path }

// Unmount undoes what Mount mounted, once; later calls return the first
// call's result. A mount that was there before Mount is left alone.
func (m *Mounted) Unmount(ctx context.Context) error {
	m.once.Do(func() {
		if m.undo == nil {
			return
		}
		m.err = m.undo(ctx)
		if m.err == nil {
			m.log.Info("desktop mount: unmounted", "path", m.path)
		}
	})
	return m.err
}

// client runs the desktop's commands with the caller's extra environment.
type client struct {
	env []string
	log *slog.Logger
	// attr starts the commands in their own way (nil: as children that
	// share our session); macOS's mount_webdav needs a session without a
	// terminal, so its password prompt reads stdin.
	attr *syscall.SysProcAttr
}

// getenv looks key up in the commands' environment: Env first, then ours.
func (c client) getenv(key string) string {
	for i := len(c.env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(c.env[i], "="); ok && k == key {
			return v
		}
	}
	return os.Getenv(key)
}

// commandTimeout bounds one client command: each of them either does its
// job within seconds or is stuck (a prompt nobody answers, a dead daemon).
const commandTimeout = 30 * time.Second

// run runs name with args, stdin as its input, and returns its standard
// output; a failure's error carries the last line the command printed.
func (c client) run(ctx context.Context, stdin string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), c.env...), "LC_ALL=C")
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = c.attr
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	c.log.Debug("desktop mount: ran", "cmd", name, "args", args, "err", err, "stderr", stderr.String())
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return stdout.String(), &cmdError{name: name, err: err, said: lastLine(stderr.String(), stdout.String())}
	}
	return stdout.String(), nil
}

// cmdError is a client command that failed; said is its last words.
type cmdError struct {
	name string
	err  error
	said string
}

func (e *cmdError) Error() string {
	if e.said == "" {
		return fmt.Sprintf("%s: %v", e.name, e.err)
	}
	return fmt.Sprintf("%s: %v: %s", e.name, e.err, e.said)
}

func (e *cmdError) Unwrap() error { return e.err }

// said returns what a failed command printed last, or "".
func said(err error) string {
	var ce *cmdError
	if errors.As(err, &ce) {
		return ce.said
	}
	return ""
}

// lastLine is the last non-empty line of the first text that has one.
func lastLine(texts ...string) string {
	for _, t := range texts {
		lines := strings.Split(strings.TrimSpace(t), "\n")
		if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
			return l
		}
	}
	return ""
}

// waitFor polls cond until it holds or ctx ends: for state another process
// reaches without telling us (a mount appearing or leaving).
func waitFor(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// redacted is err with secrets blanked out of its text.
type redacted struct {
	err     error
	secrets []string
}

// redact blanks each non-empty secret out of err's text.
func redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	return redacted{err: err, secrets: secrets}
}

func (r redacted) Error() string {
	text := r.err.Error()
	for _, s := range r.secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "xxxxx")
		}
	}
	return text
}

func (r redacted) Unwrap() error { return r.err }
