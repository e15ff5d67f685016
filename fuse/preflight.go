//go:build fuse && !windows

package fuse

import (
	"errors"
	"fmt"
	"fsm/internal/mountinfo"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Check runs Mount's preflight checks without mounting: libfuse loads,
// /dev/fuse opens and fusermount3 is on PATH (Linux), and dir is an empty
// directory. A stale mount at dir (left by a crashed fsm) passes: Mount
// clears it. Each failure is one line saying what to install or do.
func Check(dir string) error {
	abs, err := absDir(dir)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", dir, err)
	}
	return preflight(abs, false, nil)
}

func preflight(dir string, clear bool, log *slog.Logger) error {
	if err := checkLib(); err != nil {
		return err
	}
	if err := checkDevice(); err != nil {
		return err
	}
	return checkMountpoint(dir, clear, log)
}

func fusermount() string {
	if isFuse3 {
		return "fusermount3"
	}
	return "fusermount"
}

func checkDevice() error {
	if runtime.GOOS != "linux" {
		return nil
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("/dev/fuse does not exist: load the fuse kernel module (modprobe fuse); in a container, run it with --device /dev/fuse --cap-add SYS_ADMIN")
	case errors.Is(err, fs.ErrPermission):
		return errors.New("cannot open /dev/fuse: permission denied; give your user read-write access (its usual mode is 0666)")
	case err != nil:
		return fmt.Errorf("cannot open /dev/fuse: %w", err)
	}
	f.Close()
	// root mounts with mount(2) itself; everyone else needs the setuid helper.
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath(fusermount()); err != nil {
			return fmt.Errorf("%s not found on PATH: install the %s package (it mounts FUSE file systems for non-root users)", fusermount(), map[bool]string{true: "fuse3", false: "fuse"}[isFuse3])
		}
	}
	return nil
}

// errHung: the mount point did not answer a stat; its FUSE server is stuck.
var errHung = errors.New("mount point does not answer")

const statTimeout = 3 * time.Second

// statDir stats dir without letting a hung FUSE mount there hang the caller.
func statDir(dir string) (os.FileInfo, error) {
	type result struct {
		fi  os.FileInfo
		err error
	}
	ch := make(chan result, 1)
	go func() {
		fi, err := os.Stat(dir)
		ch <- result{fi, err}
	}()
	t := time.NewTimer(statTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.fi, r.err
	case <-t.C:
		return nil, &fs.PathError{Op: "stat", Path: dir, Err: errHung}
	}
}

// isStale: the error a FUSE mount whose server is gone (or stuck) gives.
func isStale(err error) bool {
	return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, errHung) || (runtime.GOOS == "darwin" && errors.Is(err, syscall.ENXIO))
}

func checkMountpoint(dir string, clear bool, log *slog.Logger) error {
	fi, err := statDir(dir)
	if isStale(err) {
		if !clear {
			return nil // Mount clears it
		}
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		if err := clearStale(dir, log); err != nil {
			return err
		}
		fi, err = statDir(dir)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("mount point %s does not exist; create it first (mkdir -p %s)", dir, dir)
	case err != nil:
		return fmt.Errorf("mount point %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("mount point %s is not a directory", dir)
	}
	if mounts, err := mountinfo.Read(); err == nil {
		if e, ok := mountinfo.At(mounts, dir); ok && e.FSType == fsType {
			return fmt.Errorf("%s is already mounted by a running fsm; stop that one, or unmount it with %s -u %s", dir, fusermount(), dir)
		}
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", dir, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	switch {
	case len(names) > 0:
		return fmt.Errorf("mount point %s is not empty (it holds %q); use an empty directory", dir, names[0])
	case err != nil && err != io.EOF:
		return fmt.Errorf("mount point %s: %w", dir, err)
	}
	return nil
}
