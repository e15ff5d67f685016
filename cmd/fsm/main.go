// Command fsm makes remote HTTP(S) files look local: it serves them over
// WebDAV (and optionally FUSE) as fixed-size files that stream in while read.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type cli struct {
	Serve   serveCmd   `cmd:"" help:"Run the server in the foreground until SIGINT/SIGTERM."`
	Stage   stageCmd   `cmd:"" help:"Add files to a running server."`
	Ls      lsCmd      `cmd:"" help:"List the staged files of a running server: size, progress, rate, state, handles, local paths."`
	Unstage unstageCmd `cmd:"" help:"Remove staged files from a running server (open handles keep reading until closed)."`
	Version versionCmd `cmd:"" help:"Print the version."`
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("fsm", version)
	return nil
}

// exitError carries a specific exit status (2 for usage-like failures).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	var c cli
	ctx := kong.Parse(&c,
		kong.Name("fsm"),
		kong.Description("Serve remote HTTP(S) files as local files that stream in while they are read."),
		kong.UsageOnError(),
		kong.Vars{"version": version},
	)
	err := ctx.Run()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "fsm:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}
