package desktop

import (
	"net/url"
	"path/filepath"
)

// webdavfsCommand is macOS mount_webdav's command line for mounting u at
// dir, and its standard input. Every local user can read a process's
// arguments (ps), so u carries no credentials: with a user, -i makes
// mount_webdav prompt for the user name and the password, which it reads
// from stdin when it has no terminal. It lives outside the darwin file so
// that its promise is tested everywhere.
func webdavfsCommand(u *url.URL, opts Options, dir string) (args []string, stdin string) {
	plain := *u
	plain.User = nil
	// -S: no dialogs (a server that fails says so here, not in a window).
	args = []string{"-S", "-o", "ro", "-v", filepath.Base(dir)}
	if opts.User != "" {
		args = append(args, "-i")
		stdin = opts.User + "\n" + opts.Password + "\n"
	}
	return append(args, plain.String(), dir), stdin
}
