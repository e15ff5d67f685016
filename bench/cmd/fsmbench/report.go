package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// measure is the samples of one figure over the runs, or why there are none.
type measure struct {
	samples []float64
	why     string // set when skipped
}

func (m measure) ok() bool { return len(m.samples) > 0 }

// value is the median: one slow run (a writeback burst, a GC) should not
// decide the verdict, nor one lucky run.
func (m measure) value() float64 {
	s := slices.Clone(m.samples)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

type results map[string]measure

func (r results) add(key string, v float64) {
	m := r[key]
	m.samples = append(m.samples, v)
	r[key] = m
}

func (r results) skip(key, why string) { r[key] = measure{why: why} }

// row is one line of the table. Ratios are this/other, so for MB/s higher
// is better and for ms lower is better.
type row struct {
	label    string
	key      string
	unit     string
	vsDirect string // key of the direct figure to divide by
	vsRclone string // key of the rclone figure to divide by
}

var rows = []row{
	{label: "Direct GET from origin, cold", key: "direct.mbps", unit: "MB/s"},
	{label: "Direct GET, first byte", key: "direct.ttfb", unit: "ms"},
	// On the unthrottled origin the direct GET is CPU-bound and parallel
	// connections cannot help: "≥3× rclone" is judged on the throttled rows.
	{label: "fsm WebDAV GET, cold", key: "fsm.mbps", unit: "MB/s", vsDirect: "direct.mbps", vsRclone: "rclone.mbps"},
	{label: "fsm WebDAV GET, first byte", key: "fsm.ttfb", unit: "ms", vsDirect: "direct.ttfb", vsRclone: "rclone.ttfb"},
	{label: "fsm server CPU for that GET (user+sys)", key: "fsm.cpu", unit: "s", vsRclone: "rclone.cpu"},
	{label: "fsm WebDAV GET, warm (2nd read, from cache)", key: "fsm.warm.mbps", unit: "MB/s", vsDirect: "direct.mbps", vsRclone: "rclone.warm.mbps"},
	{label: "rclone WebDAV GET, cold", key: "rclone.mbps", unit: "MB/s", vsDirect: "direct.mbps"},
	{label: "rclone WebDAV GET, first byte", key: "rclone.ttfb", unit: "ms", vsDirect: "direct.ttfb"},
	{label: "rclone server CPU for that GET (user+sys)", key: "rclone.cpu", unit: "s"},
	{label: "rclone WebDAV GET, warm (2nd read, from cache)", key: "rclone.warm.mbps", unit: "MB/s", vsDirect: "direct.mbps"},
	{label: "Far read 64 KiB @90%, direct (throttled origin)", key: "far.direct.ms", unit: "ms"},
	{label: "Far read @90% via fsm during download", key: "far.fsm.ms", unit: "ms", vsDirect: "far.direct.ms", vsRclone: "far.rclone.ms"},
	{label: "  origin GETs at ≥89% (fsm)", key: "far.fsm.reqs", unit: "req", vsRclone: "far.rclone.reqs"},
	{label: "Far read @90% via rclone during download", key: "far.rclone.ms", unit: "ms", vsDirect: "far.direct.ms"},
	{label: "  origin GETs at ≥89% (rclone)", key: "far.rclone.reqs", unit: "req"},
	{label: "fsm FUSE cat, cold", key: "fuse.fsm.mbps", unit: "MB/s", vsDirect: "direct.mbps", vsRclone: "fuse.rclone.mbps"},
	{label: "fsm FUSE cat, first byte", key: "fuse.fsm.ttfb", unit: "ms", vsDirect: "direct.ttfb", vsRclone: "fuse.rclone.ttfb"},
	{label: "fsm FUSE server CPU for that cat (user+sys)", key: "fuse.fsm.cpu", unit: "s", vsRclone: "fuse.rclone.cpu"},
	{label: "rclone mount cat, cold", key: "fuse.rclone.mbps", unit: "MB/s", vsDirect: "direct.mbps"},
	{label: "rclone mount cat, first byte", key: "fuse.rclone.ttfb", unit: "ms", vsDirect: "direct.ttfb"},
	{label: "rclone mount CPU for that cat (user+sys)", key: "fuse.rclone.cpu", unit: "s"},
	// Origin limited per connection (thr.*): a separate, smaller file.
	{label: "**Throttled origin ²**: direct GET, cold (1 connection)", key: "thr.direct.mbps", unit: "MB/s"},
	{label: "Throttled: fsm WebDAV GET, cold", key: "thr.fsm.mbps", unit: "MB/s", vsDirect: "thr.direct.mbps", vsRclone: "thr.rclone.mbps"},
	{label: "Throttled: fsm server CPU for that GET (user+sys)", key: "thr.fsm.cpu", unit: "s", vsRclone: "thr.rclone.cpu"},
	{label: "Throttled: rclone WebDAV GET, cold", key: "thr.rclone.mbps", unit: "MB/s", vsDirect: "thr.direct.mbps"},
	{label: "Throttled: rclone server CPU for that GET (user+sys)", key: "thr.rclone.cpu", unit: "s"},
	{label: "Throttled: fsm FUSE cat, cold", key: "thr.fuse.fsm.mbps", unit: "MB/s", vsDirect: "thr.direct.mbps", vsRclone: "thr.fuse.rclone.mbps"},
	{label: "Throttled: rclone mount cat, cold", key: "thr.fuse.rclone.mbps", unit: "MB/s", vsDirect: "thr.direct.mbps"},
}

func ratio(a float64, b measure) (float64, bool) {
	if !b.ok() || b.value() == 0 {
		return 0, false
	}
	return a / b.value(), true
}

// report renders the header, the table and any harness error as Markdown.
func (h *harness) report(runErr error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## fsmbench %s\n\n", h.started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %s; load average %s at start, %s at end\n", machine(), h.loadStart, loadAvg())
	fmt.Fprintf(&b, "- file: %d bytes (%.0f MiB) on loopback; far read origin throttled to %.0f MB/s per connection\n",
		h.cfg.size, float64(h.cfg.size)/(1<<20), float64(h.cfg.farRate)/1e6)
	fmt.Fprintf(&b, "- fsm: %s; rclone: %s; %s\n", gitDescribe(), toolVersion(h.cfg.rclone), runtime.Version())
	fmt.Fprintf(&b, "- throttled rows: a separate %d-byte (%.0f MiB) file from an origin limited to %.0f MB/s per connection\n",
		h.cfg.thrSize, float64(h.cfg.thrSize)/(1<<20), float64(h.cfg.thrRate)/1e6)
	fmt.Fprintf(&b, "- %d interleaved round(s) (%s), each scenario with a fresh origin, server and cache; median (min–max) shown\n",
		h.cfg.runs, thrRounds(h.cfg.thrRuns, h.cfg.runs))
	fmt.Fprintf(&b, "- run took %s; every transfer verified against the origin's content\n\n", time.Since(h.started).Round(time.Second))
	b.WriteString("| scenario | result | vs direct | vs rclone | goal | met? |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")
	for _, rw := range rows {
		b.WriteString(h.renderRow(rw))
	}
	b.WriteString("\nRatios are this/other: for MB/s higher is better, for ms and CPU seconds lower is better.\n\n")
	for _, n := range h.cfg.goals.notes {
		b.WriteString(n + "\n")
	}
	fmt.Fprintf(&b, "² Origin limited to %.0f MB/s per connection, as CDNs and cloud storage limit each connection:\n"+
		"one connection (direct; rclone, which streams over one) cannot beat that rate; fsm opens up to 4\n"+
		"parallel range connections once one proves slower than 200 MB/s. \"vs direct\" there is the gain\n"+
		"over a single connection.\n", float64(h.cfg.thrRate)/1e6)
	b.WriteString(h.busyNote())
	if why := h.res["fuse.fsm.mbps"].why; why != "" {
		fmt.Fprintf(&b, "\nFUSE skipped: %s\n", why)
	}
	if runErr != nil {
		fmt.Fprintf(&b, "\n**Harness error** (figures above may be incomplete):\n\n```\n%v\n```\n", runErr)
	}
	return b.String()
}

func (h *harness) renderRow(rw row) string {
	g, hasGoal := h.cfg.goals.byKey[rw.key]
	self := h.res[rw.key]
	met := ""
	if hasGoal {
		met = "n/a"
	}
	if !self.ok() {
		val := "n/a"
		if self.why != "" {
			val = "skipped"
		}
		return fmt.Sprintf("| %s | %s | | | %s | %s |\n", rw.label, val, g.text, met)
	}
	v := self.value()
	if hasGoal {
		if ok, known := g.met(h.res, v); known && ok {
			met = "yes"
		} else if known {
			met = "**no**"
		}
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s |\n",
		rw.label, formatMeasure(self, rw.unit), h.ratioCell(v, rw.vsDirect), h.ratioCell(v, rw.vsRclone), g.text, met)
}

func (h *harness) ratioCell(v float64, key string) string {
	if key == "" {
		return ""
	}
	q, ok := ratio(v, h.res[key])
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", q)
}

// formatMeasure prints the median, and the spread when there are several
// runs so a reader can tell a real difference from noise.
func formatMeasure(m measure, unit string) string {
	s := formatValue(m.value(), unit)
	if len(m.samples) > 1 && unit != "req" {
		lo, hi := slices.Min(m.samples), slices.Max(m.samples)
		s += " (" + strings.TrimSuffix(formatValue(lo, unit), " "+unit) + "–" + formatValue(hi, unit) + ")"
	} else if len(m.samples) > 1 {
		s += fmt.Sprintf(" (%.0f–%.0f)", slices.Min(m.samples), slices.Max(m.samples))
	}
	return s
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "MB/s":
		return fmt.Sprintf("%.0f MB/s", v)
	case "ms":
		return fmt.Sprintf("%.1f ms", v)
	case "s":
		return fmt.Sprintf("%.2f s", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// thrRounds says how many rounds the throttled rows had.
func thrRounds(thr, runs int) string {
	if thr >= runs {
		return "throttled rows in every round"
	}
	if thr == 1 {
		return "throttled rows in the first round only: a single sample, no spread"
	}
	return fmt.Sprintf("throttled rows in the first %d only", thr)
}

// machine names the CPU, core count and kernel: figures mean little
// without them.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d cores, %s, Linux %s", runtime.NumCPU(), model, strings.TrimSpace(string(kernel)))
}

// loadAvg is the 1-minute load average: other work on the machine moves
// the figures, and this says how much there was.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown commit"
	}
	return "commit " + strings.TrimSpace(string(out))
}

func toolVersion(bin string) string {
	if bin == "" {
		return "not installed"
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "unknown version"
	}
	return firstLine(strings.TrimSpace(string(out)))
}

// busyNote says how busy the whole machine was during each cold transfer:
// near 100 % means the figure is bounded by CPU, not by the design's waits.
func (h *harness) busyNote() string {
	var parts []string
	for _, k := range []struct{ key, label string }{
		{"direct", "direct"}, {"fsm", "fsm"}, {"rclone", "rclone"},
		{"fuse.fsm", "fsm FUSE"}, {"fuse.rclone", "rclone mount"},
		{"thr.direct", "throttled direct"}, {"thr.fsm", "throttled fsm"}, {"thr.rclone", "throttled rclone"},
		{"thr.fuse.fsm", "throttled fsm FUSE"}, {"thr.fuse.rclone", "throttled rclone mount"},
	} {
		if m := h.res[k.key+".busy"]; m.ok() {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", k.label, m.value()))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Machine CPU busy during the cold transfers (all cores, median): " + strings.Join(parts, ", ") + ".\n"
}
