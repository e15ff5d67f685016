package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"unicode/utf8"

	"fsm/internal/safetext"
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

// ControlPrefix is the first path element of fsm's own control API and
// page. No staged file lives under it, and no frontend lists it.
const ControlPrefix = ".fsm"

// hiddenElement reports whether one path element is a name that OS clients
// probe for (AppleDouble "._*", .DS_Store, desktop.ini, ...) or one fsm
// reserves at the top of the tree.
func hiddenElement(el string, top bool) bool {
	return strings.HasPrefix(el, "._") || junk[el] || (top && el == ControlPrefix)
}

// Hidden reports whether any element of p is a junk or reserved name. Such a
// path never names anything in the tree: staging refuses it, so frontends
// may answer it from memory (a fast 404 or ENOENT) without a lookup.
func Hidden(p string) bool {
	p = Clean(p)
	if p == "" {
		return false
	}
	for i, el := range strings.Split(p, "/") {
		if hiddenElement(el, i == 0) {
			return true
		}
	}
	return false
}

// Clean turns a client path ("/a/b", "a/b/", "") into the tree's key form
// ("a/b", "" for the root).
func Clean(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

// ErrBadName marks a name that staging refuses; it is an fs.ErrInvalid.
var ErrBadName error = &kindError{"bad name", fs.ErrInvalid}

// ErrNameTaken marks a name that is staged, being staged, a folder, or
// needed as a folder; it is an fs.ErrExist.
var ErrNameTaken error = &kindError{"name taken", fs.ErrExist}

// ErrNoName: the request gives no name and the origin none either; it is
// an ErrBadName, told apart so a client can say how to give one.
var ErrNoName = fmt.Errorf("%w: the origin gives no file name (no last URL path segment, no Content-Disposition)", ErrBadName)

// kindError is a sentinel that errors.Is also matches against a standard
// kind, without that kind's text in every message ("file already exists"
// after "is already staged" says the same twice).
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// CheckName reports why name cannot be staged, or nil. A name is a relative
// slash path of at most 4096 bytes and 64 elements; each element is at most
// 255 bytes of valid UTF-8 with no control characters, no
// bidirectional-override characters (which let an origin show
// "x\u202etxt.exe" as "xexe.txt"), no invisible format characters, no leading
// or trailing space, and no junk or reserved name.
func CheckName(name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("%w %q: %w", ErrBadName, safetext.Cut(name, 100), err)
	}
	return nil
}

// Bounds on a name: an element as most file systems allow, the whole as
// PATH_MAX, and a depth no real folder tree needs. They keep every walk of
// the tree short, whatever a client or an origin sends.
const (
	maxElementBytes = 255
	maxNameBytes    = 4096
	maxNameDepth    = 64
)

func checkName(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	if len(name) > maxNameBytes {
		return fmt.Errorf("longer than %d bytes", maxNameBytes)
	}
	if n := strings.Count(name, "/") + 1; n > maxNameDepth {
		return fmt.Errorf("%d levels deep, more than %d", n, maxNameDepth)
	}
	if !utf8.ValidString(name) {
		return errors.New("not valid UTF-8")
	}
	if strings.Contains(name, "\\") {
		return errors.New("backslash is not allowed")
	}
	for i, el := range strings.Split(name, "/") {
		switch {
		case el == "" || el == "." || el == "..":
			return errors.New(`empty, "." or ".." path element`)
		case len(el) > maxElementBytes:
			return fmt.Errorf("element longer than %d bytes", maxElementBytes)
		case strings.TrimSpace(el) != el:
			return fmt.Errorf("element %q starts or ends with a space", el)
		case hiddenElement(el, i == 0):
			if i == 0 && el == ControlPrefix {
				return fmt.Errorf("%s/ is reserved for fsm itself", ControlPrefix)
			}
			return fmt.Errorf("element %q is a name desktop clients probe for, which fsm hides", el)
		}
		for _, r := range el {
			switch {
			case isBidiControl(r):
				return fmt.Errorf("bidirectional-override character %U", r)
			case safetext.Unsafe(r):
				// Invisible characters make two names look the same; line
				// separators break every listing that shows the name.
				return fmt.Errorf("control, invisible or line-separator character %U", r)
			}
		}
	}
	return nil
}

// isBidiControl: the Unicode bidirectional formatting characters (embedding,
// override, isolate and marks), which reorder how a name is displayed.
func isBidiControl(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069,
		r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	}
	return false
}
