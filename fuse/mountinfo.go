package fuse

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	Dev        string // "major:minor"
	MountPoint string // unescaped
	FSType     string // e.g. "fuse.fsm"
	Source     string // e.g. "fsm"
}

// fsType is the kernel's fstype of our mounts: "fuse." + the subtype option.
const fsType = "fuse.fsm"

// readMounts lists the mounts this process sees (Linux only; nil elsewhere).
func readMounts() ([]mountEntry, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	return parseMountinfo(string(data)), nil
}

// parseMountinfo parses the format of proc(5) /proc/[pid]/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
func parseMountinfo(data string) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(data, "\n") {
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+3 {
			continue
		}
		out = append(out, mountEntry{
			Dev:        fields[2],
			MountPoint: unescapeMount(fields[4]),
			FSType:     fields[sep+1],
			Source:     unescapeMount(fields[sep+2]),
		})
	}
	return out
}

// unescapeMount undoes the octal escapes (\040 for a space, \011, \012,
// \134) the kernel uses in mountinfo fields.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountAt returns the last (topmost) mount at dir, if any.
func mountAt(mounts []mountEntry, dir string) (mountEntry, bool) {
	var found mountEntry
	ok := false
	for _, e := range mounts {
		if e.MountPoint == dir {
			found, ok = e, true
		}
	}
	return found, ok
}

// absDir makes dir absolute and resolves symlinks in its parent (not in dir
// itself: a stale mount there cannot even be lstat'ed).
func absDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	parent, base := filepath.Split(abs)
	if real, err := filepath.EvalSymlinks(parent); err == nil {
		parent = real
	}
	if base == "" {
		return filepath.Clean(parent), nil
	}
	return filepath.Join(parent, base), nil
}
