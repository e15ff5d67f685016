package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// goal is one line of the goals file (bench/goals.txt): the bound a figure
// is judged against. Goals live in that file, not in code, so that moving
// one is a one-line change that the report header shows.
type goal struct {
	key    string
	max    bool    // at most value, else at least
	value  float64 // the bound, a ratio when versus is set
	versus string  // figure to divide by; "" for an absolute bound
	text   string  // shown in the goal column
}

// goals are the parsed goals file.
type goals struct {
	byKey map[string]goal
	notes []string // printed under the table
}

func loadGoals(path string) (goals, error) {
	f, err := os.Open(path)
	if err != nil {
		return goals{}, fmt.Errorf("goals: %w", err)
	}
	defer f.Close()
	g, err := parseGoals(f)
	if err != nil {
		return goals{}, fmt.Errorf("goals %s: %w", path, err)
	}
	return g, nil
}

func parseGoals(r io.Reader) (goals, error) {
	g := goals{byKey: map[string]goal{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "note "); ok {
			g.notes = append(g.notes, rest)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 5 {
			return goals{}, fmt.Errorf("line %d: want KEY min|max VALUE VERSUS|- TEXT", n)
		}
		gl := goal{key: f[0], text: strings.Join(f[4:], " ")}
		switch f[1] {
		case "min":
		case "max":
			gl.max = true
		default:
			return goals{}, fmt.Errorf("line %d: test %q, want min or max", n, f[1])
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return goals{}, fmt.Errorf("line %d: bound %q is not a number", n, f[2])
		}
		gl.value = v
		if f[3] != "-" {
			gl.versus = f[3]
		}
		if _, dup := g.byKey[gl.key]; dup {
			return goals{}, fmt.Errorf("line %d: a second goal for %s", n, gl.key)
		}
		g.byKey[gl.key] = gl
	}
	return g, sc.Err()
}

// met judges self (the figure's median) against the goal; known is false
// when the figure to compare with is missing.
func (g goal) met(r results, self float64) (ok, known bool) {
	v := self
	if g.versus != "" {
		q, known := ratio(self, r[g.versus])
		if !known {
			return false, false
		}
		v = q
	}
	if g.max {
		return v <= g.value, true
	}
	return v >= g.value, true
}
