// Package mountinfo reads the mount table of /proc/self/mountinfo (Linux).
package mountinfo

import (
	"os"
	"strconv"
	"strings"
)

// Entry is one line of /proc/self/mountinfo.
type Entry struct {
	Dev        string // "major:minor"
	MountPoint string // unescaped
	FSType     string // e.g. "fuse.fsm"
	Source     string // e.g. "fsm"
}

// Read lists the mounts this process sees (Linux only; nil elsewhere).
func Read() ([]Entry, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	return Parse(string(data)), nil
}

// Parse parses the format of proc(5) /proc/[pid]/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
func Parse(data string) []Entry {
	var out []Entry
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
		out = append(out, Entry{
			Dev:        fields[2],
			MountPoint: unescape(fields[4]),
			FSType:     fields[sep+1],
			Source:     unescape(fields[sep+2]),
		})
	}
	return out
}

// unescape undoes the octal escapes (\040 for a space, \011, \012,
// \134) the kernel uses in mountinfo fields.
func unescape(s string) string {
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

// At returns the last (topmost) mount at dir, if any.
func At(mounts []Entry, dir string) (Entry, bool) {
	var found Entry
	ok := false
	for _, e := range mounts {
		if e.MountPoint == dir {
			found, ok = e, true
		}
	}
	return found, ok
}

// Mounted reports whether dir is a mount point this process sees.
func Mounted(dir string) bool {
	mounts, err := Read()
	if err != nil {
		return false
	}
	for _, e := range mounts {
		if e.MountPoint == dir {
			return true
		}
	}
	return false
}
