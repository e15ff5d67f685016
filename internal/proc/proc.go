// Package proc sets up and finds the processes of a private desktop session
// (its own D-Bus bus, HOME and XDG folders), for tests and benchmarks that
// run gvfs and must stop exactly what they started.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SessionEnv is this process's environment for a private session whose
// XDG_RUNTIME_DIR is runtime: the desktop's own session variables (display,
// bus, XDG folders, HOME) are replaced by folders under runtime and a bus
// socket there, whose address is returned too. HOME is created.
func SessionEnv(runtime string) (env []string, bus string, err error) {
	home := filepath.Join(runtime, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, "", fmt.Errorf("session home: %w", err)
	}
	bus = "unix:path=" + filepath.Join(runtime, "bus")
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "DISPLAY" || k == "WAYLAND_DISPLAY" || k == "HOME" || k == "GIO_USE_VFS" || k == "GVFS_DISABLE_FUSE",
			strings.HasPrefix(k, "DBUS_"), strings.HasPrefix(k, "XDG_"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+home,
		"XDG_RUNTIME_DIR="+runtime,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local/share"),
		"DBUS_SESSION_BUS_ADDRESS="+bus,
		"GIO_USE_VOLUME_MONITOR=unix",
	)
	return env, bus, nil
}

// WithEnv lists the live processes other than this one whose environment
// holds the entry kv ("NAME=value"). A process that has exited but is not
// yet reaped (a zombie) does not count: it has nothing left to stop.
func WithEnv(kv string) []int {
	want := []byte(kv + "\x00")
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(b, want) {
			continue
		}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// Name is a process's command name (its comm), "" when it is gone.
func Name(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}
