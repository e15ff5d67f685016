package main

import (
	"fmt"
	"runtime/debug"

	"fsm/fuse"
)

// version and commit may be set at build time:
// -ldflags "-X main.version=1.2.0 -X main.commit=abc123".
var version, commit string

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println(versionText())
	return nil
}

// versionText is what `fsm version` and `fsm --version` print: the version,
// the commit (from the ldflags, else from go build's VCS stamp) and whether
// this build mounts FUSE, since builds differ in that.
func versionText() string {
	v, rev := versionNumber(), commit
	modified := false
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	} else if modified && commit == "" {
		rev += " (with uncommitted changes)"
	}
	fuseText := "not built in (rebuild with -tags fuse,fuse3 on Linux, -tags fuse on macOS)"
	if lib := fuse.Library(); lib != "" {
		fuseText = "built in (" + lib + ")"
	}
	return fmt.Sprintf("fsm %s\ncommit: %s\nFUSE: %s", v, rev, fuseText)
}

// versionNumber is the version from the ldflags, else the module's (go
// install ...@v1.2.3), else "dev".
func versionNumber() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}
