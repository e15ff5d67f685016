package vfs

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// junk are names that desktop clients probe for on every volume. They never
// exist here, and frontends answer them from memory without a lookup.
var junk = map[string]bool{
	".DS_Store": true, ".Spotlight-V100": true, ".Trashes": true, ".fseventsd": true,
	".metadata_never_index": true, ".metadata_never_index_unless_rootfs": true,
	".metadata_direct_scope_only": true, ".TemporaryItems": true, ".VolumeIcon.icns": true,
	".com.apple.timemachine.donotpresent": true, ".apdisk": true, ".localized": true,
	".hidden": true, ".ql_disablethumbnails": true, ".ql_disablecache": true,
	"mach_kernel": true, "Backups.backupdb": true,
	"desktop.ini": true, "Desktop.ini": true, "Thumbs.db": true, "autorun.inf": true,
	"folder.jpg": true, "Folder.jpg": true,
}

// IsJunk reports whether the last element of p is a name that OS clients
// probe for (AppleDouble "._*" files, .DS_Store, desktop.ini, ...).
func IsJunk(p string) bool {
	base := path.Base("/" + p)
	return strings.HasPrefix(base, "._") || junk[base]
}

// ControlPrefix is reserved for the control API and page; no staged file
// may live under it.
const ControlPrefix = ".fsm"

// Clean turns a client path ("/a/b", "a/b/", "") into the tree's key form
// ("a/b", "" for the root).
func Clean(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

// checkName validates a name for staging: a relative slash path whose
// elements are real names.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name: %w", fs.ErrInvalid)
	}
	if strings.ContainsRune(name, 0) || strings.Contains(name, "\\") {
		return fmt.Errorf("name %q: NUL and backslash are not allowed: %w", name, fs.ErrInvalid)
	}
	for _, el := range strings.Split(name, "/") {
		switch {
		case el == "" || el == "." || el == "..":
			return fmt.Errorf("name %q: empty, \".\" or \"..\" path element: %w", name, fs.ErrInvalid)
		case len(el) > 255:
			return fmt.Errorf("name %q: element longer than 255 bytes: %w", name, fs.ErrInvalid)
		}
	}
	if first, _, _ := strings.Cut(name, "/"); first == ControlPrefix {
		return fmt.Errorf("name %q: %s/ is reserved for fsm itself: %w", name, ControlPrefix, fs.ErrInvalid)
	}
	if IsJunk(name) {
		return fmt.Errorf("name %q is a name desktop clients probe for and fsm hides: %w", name, fs.ErrInvalid)
	}
	return nil
}
