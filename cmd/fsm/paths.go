package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/alecthomas/kong"
)

// homePathMapper is kong's "path" type as fsm wants it, for flags and their
// FSM_* variables alike: a leading ~ (alone or before a separator) is $HOME,
// as a shell would expand it, since values from the environment and quoted
// flags arrive unexpanded. It replaces kong's own mapper, which takes the
// home directory from the password database rather than $HOME and makes
// every path absolute.
var homePathMapper = kong.MapperFunc(func(ctx *kong.DecodeContext, target reflect.Value) error {
	if target.Kind() != reflect.String {
		return fmt.Errorf(`"path" type must be applied to a string, not %s`, target.Type())
	}
	var p string
	if err := ctx.Scan.PopValueInto("path", &p); err != nil {
		return err
	}
	p, err := expandHome(p)
	if err != nil {
		return err
	}
	target.SetString(p)
	return nil
})

// expandHome expands a leading ~ (alone or before a separator) to $HOME.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%s: cannot expand ~: %w", p, err)
	}
	return filepath.Join(home, p[1:]), nil
}
