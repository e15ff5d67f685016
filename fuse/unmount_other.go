//go:build fuse && !linux

package fuse

import (
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"strings"
)

// ownDevice: there is no mount table to read here.
func ownDevice(dir string) string { return "" }

// unmountOwn asks cgofuse to unmount (at most once: see remove). m.mu must
// be held.
func (m *Mounted) unmountOwn() error {
	if !m.host.Unmount() && !m.ended() {
		return fmt.Errorf("unmount %s failed; the mount ends when fsm exits", m.dir)
	}
	return nil
}

// clearStale removes a dead FUSE mount at dir (left by a crashed fsm).
func clearStale(dir string, log *slog.Logger) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	tries := [][]string{{"umount", "-f", dir}, {"diskutil", "unmount", "force", dir}}
	var errs []string
	for _, args := range tries {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err == nil {
			log.Info("removed a stale FUSE mount left by an earlier run", "dir", dir)
			return nil
		}
		errs = append(errs, fmt.Sprintf("%s: %v %s", strings.Join(args, " "), err, strings.TrimSpace(string(out))))
	}
	return fmt.Errorf("mount point %s holds a stale FUSE mount that could not be removed (%s); run diskutil unmount force %s", dir, strings.Join(errs, "; "), dir)
}

// coveredError: no mount table here, so a covered mount is never detected.
type coveredError struct{}

func (e *coveredError) Error() string { return "covered" }
