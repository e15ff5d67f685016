package main

import (
	"strings"
	"testing"
)

// The shipped goals file parses and names only figures the report has.
func TestGoalsFile(t *testing.T) {
	g, err := loadGoals("../../goals.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.byKey) == 0 {
		t.Fatal("no goals in bench/goals.txt")
	}
	keys := map[string]bool{}
	for _, rw := range rows {
		keys[rw.key] = true
	}
	for k, gl := range g.byKey {
		if !keys[k] || (gl.versus != "" && !keys[gl.versus]) {
			t.Errorf("goal %+v names a figure the report does not have", gl)
		}
	}
}

func TestGoalJudgement(t *testing.T) {
	g, err := parseGoals(strings.NewReader("# c\nx min 0.8 y at least 0.8× y\nz max 50 - ≤50\nnote hello\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := results{}
	r.add("y", 100)
	for _, c := range []struct {
		key       string
		self      float64
		ok, known bool
	}{
		{"x", 80, true, true}, {"x", 79, false, true}, {"z", 50, true, true}, {"z", 51, false, true},
	} {
		if ok, known := g.byKey[c.key].met(r, c.self); ok != c.ok || known != c.known {
			t.Errorf("%s at %v: met %v known %v", c.key, c.self, ok, known)
		}
	}
	if _, known := g.byKey["x"].met(results{}, 1); known {
		t.Error("a ratio goal without its other figure is judged")
	}
	if g.byKey["x"].text != "at least 0.8× y" || len(g.notes) != 1 {
		t.Errorf("parsed %+v", g)
	}
	for _, bad := range []string{"x min 1\n", "x mid 1 - t\n", "x min one - t\n", "x min 1 - a\nx max 2 - b\n"} {
		if _, err := parseGoals(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Sizes read as fsm's --cache-max-size reads them.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1G": 1e9, "1GiB": 1 << 30, "256MiB": 256 << 20, "4096": 4096, "2g": 2e9} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "lots", "-1G"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}
