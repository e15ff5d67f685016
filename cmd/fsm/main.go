// Command fsm makes remote HTTP(S) files look local: it serves them over
// WebDAV (and optionally FUSE) as fixed-size files that stream in while read.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/alecthomas/kong"

	"fsm/internal/safetext"
)

type cli struct {
	Serve   serveCmd         `cmd:"" help:"Run the server in the foreground until SIGINT, SIGTERM or SIGHUP."`
	Stage   stageCmd         `cmd:"" help:"Add files to a running server."`
	Ls      lsCmd            `cmd:"" help:"List the staged files of a running server: size, progress, rate, state, handles, local paths."`
	Unstage unstageCmd       `cmd:"" help:"Remove staged files from a running server (open handles keep reading until closed)."`
	Retry   retryCmd         `cmd:"" help:"Try files in error or failed again: a file in error resumes its download now, a failed one is staged again from its source."`
	Version versionCmd       `cmd:"" help:"Print the version, the commit and whether FUSE is built in."`
	Help    helpCmd          `cmd:"" help:"Show help for fsm or one of its commands."`
	Ver     kong.VersionFlag `name:"version" help:"Print the version and exit."`
}

// exitError carries a specific exit status (usageExit: usageError).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageExit is the conventional status for a command line that cannot be
// run: scripts tell it from a failure of the run itself (1).
const usageExit = 2

// usageError is err as a command line that cannot be run: fsm exits with
// usageExit.
func usageError(err error) error { return &exitError{usageExit, err} }

func main() {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("fsm"),
		kong.Description("Serve remote HTTP(S) files as local files that stream in while they are read."),
		kong.Vars{"version": versionText()},
		kong.NamedMapper("path", homePathMapper),
	)
	if err != nil {
		panic(err) // the struct above is malformed: a bug, not a usage error
	}
	ctx, err := parser.Parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsm:", err)
		if shapeError(err) {
			fmt.Fprintln(os.Stderr, "Run 'fsm --help' for usage.")
		}
		os.Exit(usageExit)
	}
	err = ctx.Run()
	if err == nil {
		return
	}
	// Failures may quote what an origin or the server sent: never let
	// that act on the terminal.
	fmt.Fprintln(os.Stderr, "fsm:", safetext.Line(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(1)
}

// shapeError reports whether a parse error is about the command line's
// shape (no command, an unknown command, flag or argument: what --help
// shows), as opposed to a refused value of a known flag (an enum, an and:
// group), whose message already says what to change.
func shapeError(err error) bool {
	var pe *kong.ParseError
	return !errors.As(err, &pe) || pe.Context == nil || pe.Context.Error != nil || pe.Context.Selected() == nil
}

type helpCmd struct {
	Command []string `arg:"" optional:"" help:"The command to explain."`
}

func (h helpCmd) Run(k *kong.Kong) error {
	ctx, err := kong.Trace(k, h.Command)
	if err == nil {
		err = ctx.Error
	}
	if err != nil {
		return usageError(err)
	}
	return ctx.PrintUsage(false)
}
