package main

import (
	"image/png"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBuiltinGoalsParseAndNameKnownFigures(t *testing.T) {
	goals, err := parseGoals(builtinGoals)
	if err != nil {
		t.Fatal(err)
	}
	if len(goals) == 0 {
		t.Fatal("no goals in goals.tsv")
	}
	for _, g := range goals {
		for _, k := range []string{g.key, g.vs} {
			if k != "" && unitOf(k) == "" {
				t.Errorf("goal %q names figure %q, which no report row shows", g.figure, k)
			}
		}
	}
}

func TestGoalJudge(t *testing.T) {
	goals, err := parseGoals("a\tb\t>=\t2\t×\t11\tratio\nc\t-\t<=\t50\tms\t-\tbound\n")
	if err != nil {
		t.Fatal(err)
	}
	r := results{}
	r.add("a", 30)
	r.add("b", 10)
	r.add("c", 51)
	if v, met, ok := goals[0].judge(r); !ok || !met || v != 3 {
		t.Errorf("ratio goal: %v %v %v, want 3 true true", v, met, ok)
	}
	if v, met, ok := goals[1].judge(r); !ok || met || v != 51 {
		t.Errorf("bound goal: %v %v %v, want 51 false true", v, met, ok)
	}
	if _, _, ok := goals[0].judge(results{}); ok {
		t.Error("a missing figure was judged")
	}
	for _, bad := range []string{"a\tb\t>\t2\t×\t11\tx", "a\tb\t>=\tx\t×\t11\tx", "a b >= 2"} {
		if _, err := parseGoals(bad); err == nil {
			t.Errorf("parseGoals(%q) accepted", bad)
		}
	}
}

func TestParseSizeUnits(t *testing.T) {
	for in, want := range map[string]int64{"1G": 1e9, "1GB": 1e9, "1GiB": 1 << 30, "256MiB": 256 << 20, "60MB": 60e6, "4096": 4096} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1G", "lots"} {
		if _, err := parseSize(bad); err == nil || !strings.Contains(err.Error(), "bad size") {
			t.Errorf("parseSize(%q) = %v, want a bad size error", bad, err)
		}
	}
}

func TestWritePlotIsASmallPNG(t *testing.T) {
	path := t.TempDir() + "/p.png"
	s := []series{
		{label: "baseline", samples: []sample{{0, 0, 0}, {time.Second, 10e6, 0}, {2 * time.Second, 10e6, 10e6}}},
		{label: "fsm", samples: []sample{{0, 0, 0}, {time.Second, 10e6, 9e6}, {1100 * time.Millisecond, 10e6, 10e6}}},
	}
	if err := writePlot(path, "title", s, 10e6); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width != plotW || cfg.Height != plotH {
		t.Errorf("plot is %dx%d, want %dx%d", cfg.Width, cfg.Height, plotW, plotH)
	}
	if fi, _ := f.Stat(); fi.Size() > 200<<10 {
		t.Errorf("plot is %d bytes, want < 200 KiB", fi.Size())
	}
	if err := writePlot(path, "title", nil, 10e6); err == nil {
		t.Error("a plot without samples was drawn")
	}
}
