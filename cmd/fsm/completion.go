package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

// Run prints the script. It is written from kong's model of the command
// line, so it names exactly the commands and flags this build has; the
// scripts are static (no call back into fsm while completing).
func (c completionCmd) Run(k *kong.Kong) error {
	cmds := completionModel(k.Model.Node)
	switch c.Shell {
	case "bash":
		writeBash(os.Stdout, cmds, false)
	case "zsh":
		writeBash(os.Stdout, cmds, true)
	case "fish":
		writeFish(os.Stdout, cmds)
	}
	return nil
}

// complCmd is a command as completion sees it: its name, summary and
// flags. The first is the program itself ("").
type complCmd struct {
	name, help string
	args       []string // the values its arguments take, when they name them
	flags      []complFlag
}

type complFlag struct {
	names []string // "--addr", "-v", aliases included
	long  string   // the long name without dashes, for fish
	short rune
	help  string
	value bool     // takes a value (the next word)
	enum  []string // the values it takes, when it names them
	path  bool     // its value is a file or folder
}

func completionModel(app *kong.Node) []complCmd {
	out := []complCmd{{flags: complFlags(app.Flags)}}
	for _, n := range app.Children {
		if n.Hidden || n.Type != kong.CommandNode {
			continue
		}
		c := complCmd{name: n.Name, help: n.Help, flags: complFlags(append(slices.Clone(n.Flags), app.Flags...))}
		for _, p := range n.Positional {
			if p.Enum != "" {
				c.args = append(c.args, p.EnumSlice()...)
			}
		}
		out = append(out, c)
	}
	return out
}

func complFlags(flags []*kong.Flag) []complFlag {
	var out []complFlag
	for _, f := range flags {
		if f.Hidden {
			continue
		}
		cf := complFlag{long: f.Name, short: f.Short, help: firstSentence(f.Help), value: !f.IsBool() && !f.IsCounter()}
		cf.names = append(cf.names, "--"+f.Name)
		for _, a := range f.Aliases {
			cf.names = append(cf.names, "--"+a)
		}
		if f.Short != 0 {
			cf.names = append(cf.names, "-"+string(f.Short))
		}
		if f.Enum != "" {
			cf.enum = f.EnumSlice()
		}
		cf.path = f.Tag.Type == "path" || f.PlaceHolder == "FILE" || f.PlaceHolder == "DIR"
		out = append(out, cf)
	}
	return out
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

// writeBash writes a bash completion function; zsh runs the same one
// through its bashcompinit.
func writeBash(w io.Writer, cmds []complCmd, zsh bool) {
	if zsh {
		fmt.Fprintln(w, "#compdef fsm\n# fsm completion for zsh: eval \"$(fsm completion zsh)\" or save as _fsm in your $fpath")
		fmt.Fprintln(w, "autoload -U +X bashcompinit && bashcompinit")
	} else {
		fmt.Fprintln(w, "# fsm completion for bash: eval \"$(fsm completion bash)\" in ~/.bashrc")
	}
	fmt.Fprintln(w, `_fsm() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in -*) ;; *) cmd=${COMP_WORDS[i]}; break ;; esac
	done
	local words=""
	case $cmd in`)
	for _, c := range cmds {
		words := slices.Clone(c.args)
		if c.name == "" || c.name == "help" {
			for _, sub := range cmds[1:] {
				words = append(words, sub.name)
			}
		}
		if c.name == "help" {
			words = append(words, helpTopicNames()...)
		}
		var enums, paths []string
		for _, f := range c.flags {
			words = append(words, f.names...)
			switch {
			case len(f.enum) > 0:
				enums = append(enums, fmt.Sprintf("\t\t\t%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;", strings.Join(f.names, "|"), strings.Join(f.enum, " ")))
			case f.path:
				paths = append(paths, f.names...)
			case f.value:
				enums = append(enums, fmt.Sprintf("\t\t\t%s) return ;;", strings.Join(f.names, "|")))
			}
		}
		pattern := c.name
		if pattern == "" {
			pattern = `""`
		}
		fmt.Fprintf(w, "\t%s)\n\t\tcase $prev in\n", pattern)
		for _, e := range enums {
			fmt.Fprintln(w, e)
		}
		if len(paths) > 0 {
			fmt.Fprintf(w, "\t\t\t%s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n", strings.Join(paths, "|"))
		}
		fmt.Fprintf(w, "\t\tesac\n\t\twords=%q ;;\n", strings.Join(words, " "))
	}
	fmt.Fprintln(w, `	esac
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _fsm fsm`)
}

// writeFish writes fish's complete commands.
func writeFish(w io.Writer, cmds []complCmd) {
	fmt.Fprintln(w, "# fsm completion for fish: fsm completion fish > ~/.config/fish/completions/fsm.fish")
	fmt.Fprintln(w, "complete -c fsm -f")
	for _, c := range cmds {
		cond := "__fish_use_subcommand"
		if c.name != "" {
			cond = "__fish_seen_subcommand_from " + c.name
			fmt.Fprintf(w, "complete -c fsm -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(firstSentence(c.help)))
		}
		if len(c.args) > 0 {
			fmt.Fprintf(w, "complete -c fsm -n %s -a %s\n", fishQuote(cond), fishQuote(strings.Join(c.args, " ")))
		}
		if c.name == "help" {
			var words []string
			for _, sub := range cmds[1:] {
				words = append(words, sub.name)
			}
			words = append(words, helpTopicNames()...)
			fmt.Fprintf(w, "complete -c fsm -n %s -a %s\n", fishQuote(cond), fishQuote(strings.Join(words, " ")))
		}
		for _, f := range c.flags {
			line := fmt.Sprintf("complete -c fsm -n %s -l %s", fishQuote(cond), f.long)
			if f.short != 0 {
				line += " -s " + string(f.short)
			}
			switch {
			case len(f.enum) > 0:
				line += " -x -a " + fishQuote(strings.Join(f.enum, " "))
			case f.path:
				line += " -r -F"
			case f.value:
				line += " -x"
			}
			fmt.Fprintln(w, line+" -d "+fishQuote(f.help))
		}
	}
}

// fishQuote single-quotes s for fish, where only \ and ' are special
// inside single quotes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
