package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kong"
)

// helpTopics are the subjects `fsm help TOPIC` explains beside the
// commands. Each writes from the model or from fixed text.
var helpTopics = map[string]func(w io.Writer, app *kong.Node){
	"environment": writeEnvironment,
	"states":      writeStates,
}

func helpTopicNames() []string {
	names := make([]string, 0, len(helpTopics))
	for n := range helpTopics {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// writeEnvironment lists every flag with its environment variable, per
// command, from kong's model: a flag added later is listed without
// anyone editing this.
func writeEnvironment(w io.Writer, app *kong.Node) {
	fmt.Fprintln(w, "Every flag that configures fsm can also be set by its environment variable; a flag on")
	fmt.Fprintln(w, "the command line wins. The client commands read the variables fsm serve reads, so one")
	fmt.Fprintln(w, "environment configures both. Flags of one call have none: "+strings.Join(flagsWithoutEnv(app), ", ")+".")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range app.Children {
		if n.Hidden || n.Type != kong.CommandNode {
			continue
		}
		var lines []string
		for _, f := range n.Flags {
			if f.Hidden || len(f.Envs) == 0 {
				continue
			}
			names := "--" + f.Name
			for _, a := range f.Aliases {
				names += ", --" + a
			}
			lines = append(lines, fmt.Sprintf("  %s\t%s", names, strings.Join(f.Envs, ", ")))
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(tw, "\nfsm %s\n", n.Name)
		for _, l := range lines {
			fmt.Fprintln(tw, l)
		}
	}
	tw.Flush()
}

// flagsWithoutEnv are the flags, of any command, that no variable sets
// (--help and --version aside), each once.
func flagsWithoutEnv(app *kong.Node) []string {
	var out []string
	for _, n := range app.Children {
		if n.Hidden || n.Type != kong.CommandNode {
			continue
		}
		for _, f := range n.Flags {
			name := "--" + f.Name
			if f.Short != 0 {
				name = "-" + string(f.Short)
			}
			if !f.Hidden && len(f.Envs) == 0 && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

func writeStates(w io.Writer, _ *kong.Node) {
	fmt.Fprint(w, `A staged file is in one of these states (fsm ls STATE, the API's "state"):

  probing      asking the origin for the size and modification time
  idle         nothing downloaded yet, or evicted by --cache-max-size
  downloading  bytes are arriving
  complete     every byte is on disk
  error        the origin failed for longer than the retry budget; the next read tries again
  failed       staging failed, or the origin's file changed: fsm unstage NAME, then stage it again
`)
}
