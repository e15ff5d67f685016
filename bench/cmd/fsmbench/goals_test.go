//go:build linux

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
	goals, err := parseGoals("a\tb\t>=\t2\t×\t11\tratio\nc\t-\t<=\t50\tms\t-\tbound\n" +
		"c\tb\t<=\t1.2\t×\t19\tratio at most\nb\tc\t<=\t1.2\t×\t19\tratio at most\n")
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
	// A "<=" goal on a ratio (fsm's CPU / curl's): 51/10 misses 1.2, 10/51 meets it.
	if v, met, ok := goals[2].judge(r); !ok || met || v != 5.1 {
		t.Errorf("ratio at most, missed: %v %v %v, want 5.1 false true", v, met, ok)
	}
	if v, met, ok := goals[3].judge(r); !ok || !met || v != 10.0/51 {
		t.Errorf("ratio at most, met: %v %v %v, want %v true true", v, met, ok, 10.0/51)
	}
	if g := goals[2].text(); g != "≤ 1.2×" {
		t.Errorf("ratio at most reads %q, want ≤ 1.2×", g)
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

// A protocol reads as its version, and over rounds only says so when it
// changed; the API's names map to curl's numbers.
func TestHTTPVersionFigures(t *testing.T) {
	for _, tc := range []struct {
		samples []float64
		want    string
	}{
		{[]float64{1.1}, "HTTP/1.1"},
		{[]float64{2, 2, 2}, "HTTP/2"},
		{[]float64{2, 1.1, 2}, "HTTP/1.1 or HTTP/2"},
	} {
		if got := formatMeasure(measure{samples: tc.samples}, "HTTP"); got != tc.want {
			t.Errorf("formatMeasure(%v) = %q, want %q", tc.samples, got, tc.want)
		}
	}
	for in, want := range map[string]float64{"http/1.1": 1.1, "h2": 2} {
		if got, err := httpVersion(in); err != nil || got != want {
			t.Errorf("httpVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := httpVersion(""); err == nil {
		t.Error("httpVersion accepted an empty protocol")
	}
}
