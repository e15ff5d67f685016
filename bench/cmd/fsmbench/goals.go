//go:build linux

package main

import (
	_ "embed"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// builtinGoals is the goals table the report judges unless -goals names
// another: the bounds live in a table, not in code, so a new goal is a line.
//
//go:embed goals.tsv
var builtinGoals string

// goal is one line of the table: figure key (divided by vs when set) op bound.
type goal struct {
	key, vs string
	atLeast bool // op ">="; else "<="
	bound   float64
	unit    string
	issue   string
	figure  string
}

// text renders the bound, e.g. "≥ 0.6×" or "≤ 200 fds".
func (g goal) text() string {
	op := "≤"
	if g.atLeast {
		op = "≥"
	}
	b := strconv.FormatFloat(g.bound, 'f', -1, 64)
	if g.unit == "×" {
		return op + " " + b + "×"
	}
	return op + " " + b + " " + g.unit
}

// judge returns the measured value (the ratio when vs is set) and whether
// it meets the bound; ok is false when a figure is missing.
func (g goal) judge(r results) (v float64, met, ok bool) {
	self := r[g.key]
	if !self.ok() {
		return 0, false, false
	}
	v = self.value()
	if g.vs != "" {
		if v, ok = ratio(v, r[g.vs]); !ok {
			return 0, false, false
		}
	}
	if g.atLeast {
		return v, v >= g.bound, true
	}
	return v, v <= g.bound, true
}

func loadGoals(path string) ([]goal, error) {
	text := builtinGoals
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("goals: %w", err)
		}
		text = string(b)
	}
	return parseGoals(text)
}

func parseGoals(text string) ([]goal, error) {
	var out []goal
	for i, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			return nil, fmt.Errorf("goals line %d: %d tab-separated fields, want 7", i+1, len(f))
		}
		g := goal{key: f[0], vs: f[1], unit: f[4], issue: f[5], figure: f[6]}
		if g.vs == "-" {
			g.vs = ""
		}
		switch f[2] {
		case ">=":
			g.atLeast = true
		case "<=":
		default:
			return nil, fmt.Errorf("goals line %d: op %q, want >= or <=", i+1, f[2])
		}
		b, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			return nil, fmt.Errorf("goals line %d: bound: %w", i+1, err)
		}
		g.bound = b
		out = append(out, g)
	}
	return out, nil
}
