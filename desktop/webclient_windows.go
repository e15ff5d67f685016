//go:build windows

package desktop

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// On Windows the client is the WebClient service (the WebDAV
// mini-redirector behind Explorer's "Map network drive"): `net use *
// http://HOST:PORT/` maps the tree to the next free drive letter, which
// `net use X: /delete` removes. WebClient copies a whole file before a
// program's first read returns and refuses files over 50,000,000 bytes
// unless FileSizeLimitInBytes is raised (HKLM\SYSTEM\CurrentControlSet\
// Services\WebClient\Parameters); it sends basic-auth credentials over
// plain http only when BasicAuthLevel is 2.

func mountOS(ctx context.Context, c client, u *url.URL, opts Options) (*Mounted, error) {
	plain := *u
	plain.User = nil
	if drive, ok := mappedDrive(ctx, c, &plain); ok {
		return &Mounted{path: drive + `\`}, nil // someone else's: never unmounted by us
	}
	args := []string{"use", "*", plain.String(), "/persistent:no"}
	if opts.User != "" {
		// net use takes the password as an argument (or from the console,
		// which we cannot feed): it is visible to this user's processes.
		args = append(args, opts.Password, "/user:"+opts.User)
	}
	out, err := c.run(ctx, "", "net", args...)
	if err != nil {
		err = redact(err, opts.Password)
		if strings.Contains(err.Error(), "error 67") {
			return nil, fmt.Errorf("net use %s: %w: the WebClient service is not running (start it: sc start WebClient; on Windows Server add the WebDAV Redirector feature)", plain.String(), err)
		}
		return nil, fmt.Errorf("net use %s: %w", plain.String(), err)
	}
	m := driveRE.FindStringSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("net use %s: no drive letter in its answer %q", plain.String(), strings.TrimSpace(out))
	}
	drive := m[1] + ":"
	undo := func(ctx context.Context) error {
		if _, err := c.run(ctx, "", "net", "use", drive, "/delete", "/y"); err != nil {
			return fmt.Errorf("net use %s /delete: %w", drive, err)
		}
		return nil
	}
	if err := waitFor(ctx, func() bool { _, err := os.Stat(drive + `\`); return err == nil }); err != nil {
		undo(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("net use %s: %s never answered: %w", plain.String(), drive, err)
	}
	return &Mounted{path: drive + `\`, undo: undo}, nil
}

// driveRE finds the drive letter in net use's answer, in any language
// ("Drive Z: is now connected to ...", "Laufwerk Z: ist jetzt ...").
var driveRE = regexp.MustCompile(`\b([A-Z]):`)

// mappedDrive finds a drive already mapped to u in `net use`'s table, where
// WebClient shows http://HOST:PORT/ as \\HOST@PORT\DavWWWRoot.
func mappedDrive(ctx context.Context, c client, u *url.URL) (string, bool) {
	out, err := c.run(ctx, "", "net", "use")
	if err != nil {
		return "", false
	}
	unc := `\\` + u.Hostname() + "@" + u.Port() + `\DavWWWRoot` + strings.ReplaceAll(strings.TrimSuffix(u.Path, "/"), "/", `\`)
	for _, line := range strings.Split(out, "\n") {
		var drive string
		match := false
		for _, f := range strings.Fields(line) {
			switch {
			case len(f) == 2 && f[1] == ':' && f[0] >= 'A' && f[0] <= 'Z':
				drive = f
			case strings.EqualFold(strings.TrimSuffix(f, `\`), unc), strings.EqualFold(strings.TrimSuffix(f, "/"), strings.TrimSuffix(u.String(), "/")):
				match = true
			}
		}
		if match && drive != "" {
			return drive, true
		}
	}
	return "", false
}
