//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
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
// is better and for ms lower is better. Goals come from the goals table.
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
	{label: "fsm WebDAV GET, cold", key: "fsm.mbps", unit: "MB/s", vsDirect: "direct.mbps", vsRclone: "rclone.mbps"},
	{label: "fsm WebDAV GET, first byte", key: "fsm.ttfb", unit: "ms", vsDirect: "direct.ttfb", vsRclone: "rclone.ttfb"},
	{label: "fsm CPU for that GET (user+sys) per GiB", key: "fsm.cpugib", unit: "s/GiB", vsRclone: "rclone.cpugib"},
	{label: "fsm peak RSS while streaming it", key: "fsm.rss", unit: "MiB", vsRclone: "rclone.rss"},
	{label: "fsm WebDAV GET, warm (2nd read, from cache)", key: "fsm.warm.mbps", unit: "MB/s", vsDirect: "direct.mbps", vsRclone: "rclone.warm.mbps"},
	{label: "rclone WebDAV GET, cold", key: "rclone.mbps", unit: "MB/s", vsDirect: "direct.mbps"},
	{label: "rclone WebDAV GET, first byte", key: "rclone.ttfb", unit: "ms", vsDirect: "direct.ttfb"},
	{label: "rclone CPU for that GET (user+sys) per GiB", key: "rclone.cpugib", unit: "s/GiB"},
	{label: "rclone peak RSS while streaming it", key: "rclone.rss", unit: "MiB"},
	{label: "rclone WebDAV GET, warm (2nd read, from cache)", key: "rclone.warm.mbps", unit: "MB/s", vsDirect: "direct.mbps"},
	{label: "Resume a half-downloaded file after a restart: start to last byte", key: "resume.fsm.s", unit: "s"},
	{label: "  origin bytes fetched after the restart", key: "resume.fsm.mib", unit: "MiB"},
	{label: "  share of the file kept by the first run", key: "resume.fsm.kept", unit: "%"},
	{label: "Far read 64 KiB @90%, direct (throttled origin)", key: "far.direct.ms", unit: "ms"},
	{label: "Far read @90% via fsm during download", key: "far.fsm.ms", unit: "ms", vsDirect: "far.direct.ms", vsRclone: "far.rclone.ms"},
	{label: "  origin GETs at ≥89% (fsm)", key: "far.fsm.reqs", unit: "req", vsRclone: "far.rclone.reqs"},
	{label: "Far read @90% via rclone during download", key: "far.rclone.ms", unit: "ms", vsDirect: "far.direct.ms"},
	{label: "  origin GETs at ≥89% (rclone)", key: "far.rclone.reqs", unit: "req"},
	{label: "fsm FUSE dd bs=1M, cold", key: "fuse.fsm.mbps", unit: "MB/s", vsDirect: "direct.mbps", vsRclone: "fuse.rclone.mbps"},
	{label: "fsm FUSE dd, first byte", key: "fuse.fsm.ttfb", unit: "ms", vsDirect: "direct.ttfb", vsRclone: "fuse.rclone.ttfb"},
	{label: "fsm FUSE CPU for that dd per GiB", key: "fuse.fsm.cpugib", unit: "s/GiB", vsRclone: "fuse.rclone.cpugib"},
	{label: "rclone mount dd bs=1M, cold", key: "fuse.rclone.mbps", unit: "MB/s", vsDirect: "direct.mbps"},
	{label: "rclone mount dd, first byte", key: "fuse.rclone.ttfb", unit: "ms", vsDirect: "direct.ttfb"},
	{label: "rclone mount CPU for that dd per GiB", key: "fuse.rclone.cpugib", unit: "s/GiB"},
	{label: "fsm via gvfs (desktop WebDAV mount) dd bs=1M, cold", key: "gvfs.fsm.mbps", unit: "MB/s", vsDirect: "direct.mbps", vsRclone: "fuse.rclone.mbps"},
	{label: "fsm via gvfs dd, first byte", key: "gvfs.fsm.ttfb", unit: "ms", vsDirect: "direct.ttfb", vsRclone: "fuse.rclone.ttfb"},
	{label: "FUSE: read of a complete file while 16 reads wait on a stalled one ³", key: "stall.fsm.s", unit: "s", vsRclone: "stall.rclone.s"},
	{label: "  the same through rclone mount --vfs-cache-mode full", key: "stall.rclone.s", unit: "s"},
	// Origin limited per connection (thr.*): a separate, smaller file.
	{label: "**Per-connection-limited origin ²**: direct GET, cold (1 connection)", key: "thr.direct.mbps", unit: "MB/s"},
	{label: "Limited: fsm WebDAV GET, cold", key: "thr.fsm.mbps", unit: "MB/s", vsDirect: "thr.direct.mbps", vsRclone: "thr.rclone.mbps"},
	{label: "Limited: rclone WebDAV GET, cold", key: "thr.rclone.mbps", unit: "MB/s", vsDirect: "thr.direct.mbps"},
	{label: "Limited: fsm FUSE dd, cold", key: "thr.fuse.fsm.mbps", unit: "MB/s", vsDirect: "thr.direct.mbps", vsRclone: "thr.fuse.rclone.mbps"},
	{label: "Limited: rclone mount dd, cold", key: "thr.fuse.rclone.mbps", unit: "MB/s", vsDirect: "thr.direct.mbps"},
	// The same limit per TCP connection, over TLS (tls.go).
	{label: "Limited, TLS HTTP/1.1 origin: direct GET, cold", key: "tls.h1.direct.mbps", unit: "MB/s"},
	{label: "Limited, TLS HTTP/1.1: fsm WebDAV GET, cold", key: "tls.h1.fsm.mbps", unit: "MB/s", vsDirect: "tls.h1.direct.mbps", vsRclone: "tls.h1.rclone.mbps"},
	{label: "  TCP connections the origin saw from fsm", key: "tls.h1.fsm.conns", unit: "conns", vsRclone: "tls.h1.rclone.conns"},
	{label: "  fsm CPU for that GET per GiB", key: "tls.h1.fsm.cpugib", unit: "s/GiB", vsRclone: "tls.h1.rclone.cpugib"},
	{label: "Limited, TLS HTTP/1.1: rclone WebDAV GET, cold", key: "tls.h1.rclone.mbps", unit: "MB/s", vsDirect: "tls.h1.direct.mbps"},
	{label: "  TCP connections the origin saw from rclone", key: "tls.h1.rclone.conns", unit: "conns"},
	{label: "  rclone CPU for that GET per GiB", key: "tls.h1.rclone.cpugib", unit: "s/GiB"},
	{label: "Limited, TLS origin offering HTTP/2: direct GET (h2), cold", key: "tls.h2.direct.mbps", unit: "MB/s"},
	{label: "Limited, TLS HTTP/2: fsm WebDAV GET, cold", key: "tls.h2.fsm.mbps", unit: "MB/s", vsDirect: "tls.h2.direct.mbps", vsRclone: "tls.h2.rclone.mbps"},
	{label: "  TCP connections the origin saw from fsm", key: "tls.h2.fsm.conns", unit: "conns", vsRclone: "tls.h2.rclone.conns"},
	{label: "  fsm CPU for that GET per GiB", key: "tls.h2.fsm.cpugib", unit: "s/GiB", vsRclone: "tls.h2.rclone.cpugib"},
	{label: "Limited, TLS HTTP/2: rclone WebDAV GET, cold", key: "tls.h2.rclone.mbps", unit: "MB/s", vsDirect: "tls.h2.direct.mbps"},
	{label: "  TCP connections the origin saw from rclone", key: "tls.h2.rclone.conns", unit: "conns"},
	{label: "  rclone CPU for that GET per GiB", key: "tls.h2.rclone.cpugib", unit: "s/GiB"},
	{label: "Limited, TLS origin speaking only HTTP/2: direct GET (h2), cold", key: "tls.h2only.direct.mbps", unit: "MB/s"},
	{label: "Limited, TLS h2-only: fsm WebDAV GET, cold", key: "tls.h2only.fsm.mbps", unit: "MB/s", vsDirect: "tls.h2only.direct.mbps", vsRclone: "tls.h2only.rclone.mbps"},
	{label: "  TCP connections the origin saw from fsm", key: "tls.h2only.fsm.conns", unit: "conns", vsRclone: "tls.h2only.rclone.conns"},
	{label: "  fsm CPU for that GET per GiB", key: "tls.h2only.fsm.cpugib", unit: "s/GiB", vsRclone: "tls.h2only.rclone.cpugib"},
	{label: "Limited, TLS h2-only: rclone WebDAV GET (h2), cold", key: "tls.h2only.rclone.mbps", unit: "MB/s", vsDirect: "tls.h2only.direct.mbps"},
	{label: "  TCP connections the origin saw from rclone", key: "tls.h2only.rclone.conns", unit: "conns"},
	{label: "  rclone CPU for that GET per GiB", key: "tls.h2only.rclone.cpugib", unit: "s/GiB"},
	// Unlimited TLS origins, the -size file (tls.go, tlscpu.go).
	{label: "**Unlimited TLS HTTP/1.1 origin ⁷**: direct GET, cold", key: "tls.h1.unl.direct.mbps", unit: "MB/s"},
	{label: "Unlimited, TLS HTTP/1.1: fsm WebDAV GET, cold", key: "tls.h1.unl.fsm.mbps", unit: "MB/s", vsDirect: "tls.h1.unl.direct.mbps", vsRclone: "tls.h1.unl.rclone.mbps"},
	{label: "  fsm CPU for that GET per GiB (download and serving)", key: "tls.h1.unl.fsm.cpugib", unit: "s/GiB", vsRclone: "tls.h1.unl.rclone.cpugib"},
	{label: "Unlimited, TLS HTTP/1.1: rclone WebDAV GET, cold", key: "tls.h1.unl.rclone.mbps", unit: "MB/s", vsDirect: "tls.h1.unl.direct.mbps"},
	{label: "  rclone CPU for that GET per GiB", key: "tls.h1.unl.rclone.cpugib", unit: "s/GiB"},
	{label: "Unlimited, TLS HTTP/1.1: curl download into a file", key: "tls.h1.curl.mbps", unit: "MB/s", vsDirect: "tls.h1.unl.direct.mbps"},
	{label: "  curl CPU per GiB (decrypt and write)", key: "tls.h1.curl.cpugib", unit: "s/GiB"},
	{label: "  its user part (mostly decrypting; the rest is the kernel receiving and writing)", key: "tls.h1.curl.usergib", unit: "s/GiB"},
	{label: "  protocol curl used", key: "tls.h1.curl.http", unit: "HTTP"},
	{label: "Unlimited, TLS HTTP/1.1: curl into a pipe (no filesystem)", key: "tls.h1.curlpipe.mbps", unit: "MB/s", vsDirect: "tls.h1.unl.direct.mbps"},
	{label: "  curl CPU per GiB into a pipe (vs direct: vs into a file)", key: "tls.h1.curlpipe.cpugib", unit: "s/GiB", vsDirect: "tls.h1.curl.cpugib"},
	{label: "  its user part", key: "tls.h1.curlpipe.usergib", unit: "s/GiB", vsDirect: "tls.h1.curl.usergib"},
	{label: "Unlimited, TLS HTTP/1.1: fsm's download alone (vs direct: vs curl)", key: "tls.h1.fsm.dlmbps", unit: "MB/s", vsDirect: "tls.h1.curl.mbps"},
	{label: "  fsm CPU per GiB for the download alone (vs direct: vs curl)", key: "tls.h1.fsm.dlcpugib", unit: "s/GiB", vsDirect: "tls.h1.curl.cpugib"},
	{label: "  its user part (vs direct: vs curl's)", key: "tls.h1.fsm.dlusergib", unit: "s/GiB", vsDirect: "tls.h1.curl.usergib"},
	{label: "  protocol fsm used", key: "tls.h1.fsm.dlhttp", unit: "HTTP"},
	{label: "**Unlimited TLS origin offering HTTP/2 ⁷**: direct GET (h2), cold", key: "tls.h2.unl.direct.mbps", unit: "MB/s"},
	{label: "Unlimited, TLS HTTP/2: fsm WebDAV GET, cold", key: "tls.h2.unl.fsm.mbps", unit: "MB/s", vsDirect: "tls.h2.unl.direct.mbps", vsRclone: "tls.h2.unl.rclone.mbps"},
	{label: "  fsm CPU for that GET per GiB (download and serving)", key: "tls.h2.unl.fsm.cpugib", unit: "s/GiB", vsRclone: "tls.h2.unl.rclone.cpugib"},
	{label: "Unlimited, TLS HTTP/2: rclone WebDAV GET, cold", key: "tls.h2.unl.rclone.mbps", unit: "MB/s", vsDirect: "tls.h2.unl.direct.mbps"},
	{label: "  rclone CPU for that GET per GiB", key: "tls.h2.unl.rclone.cpugib", unit: "s/GiB"},
	{label: "Unlimited, TLS HTTP/2: curl download into a file", key: "tls.h2.curl.mbps", unit: "MB/s", vsDirect: "tls.h2.unl.direct.mbps"},
	{label: "  curl CPU per GiB (decrypt and write)", key: "tls.h2.curl.cpugib", unit: "s/GiB"},
	{label: "  its user part (mostly decrypting; the rest is the kernel receiving and writing)", key: "tls.h2.curl.usergib", unit: "s/GiB"},
	{label: "  protocol curl used", key: "tls.h2.curl.http", unit: "HTTP"},
	{label: "Unlimited, TLS HTTP/2: curl into a pipe (no filesystem)", key: "tls.h2.curlpipe.mbps", unit: "MB/s", vsDirect: "tls.h2.unl.direct.mbps"},
	{label: "  curl CPU per GiB into a pipe (vs direct: vs into a file)", key: "tls.h2.curlpipe.cpugib", unit: "s/GiB", vsDirect: "tls.h2.curl.cpugib"},
	{label: "  its user part", key: "tls.h2.curlpipe.usergib", unit: "s/GiB", vsDirect: "tls.h2.curl.usergib"},
	{label: "Unlimited, TLS HTTP/2: fsm's download alone (vs direct: vs curl)", key: "tls.h2.fsm.dlmbps", unit: "MB/s", vsDirect: "tls.h2.curl.mbps"},
	{label: "  fsm CPU per GiB for the download alone (vs direct: vs curl)", key: "tls.h2.fsm.dlcpugib", unit: "s/GiB", vsDirect: "tls.h2.curl.cpugib"},
	{label: "  its user part (vs direct: vs curl's)", key: "tls.h2.fsm.dlusergib", unit: "s/GiB", vsDirect: "tls.h2.curl.usergib"},
	{label: "  protocol fsm used", key: "tls.h2.fsm.dlhttp", unit: "HTTP"},
	// 64 readers at random offsets of the cold unthrottled file.
	{label: "**64 concurrent readers ⁴**: direct, aggregate", key: "conc.direct.mbps", unit: "MB/s"},
	{label: "  direct, latency p50", key: "conc.direct.p50", unit: "ms"},
	{label: "  direct, latency p90", key: "conc.direct.p90", unit: "ms"},
	{label: "  direct, latency p99", key: "conc.direct.p99", unit: "ms"},
	{label: "64 readers via fsm WebDAV, aggregate", key: "conc.fsm.mbps", unit: "MB/s", vsDirect: "conc.direct.mbps", vsRclone: "conc.rclone.mbps"},
	{label: "  fsm, latency p50", key: "conc.fsm.p50", unit: "ms", vsDirect: "conc.direct.p50", vsRclone: "conc.rclone.p50"},
	{label: "  fsm, latency p90", key: "conc.fsm.p90", unit: "ms", vsDirect: "conc.direct.p90", vsRclone: "conc.rclone.p90"},
	{label: "  fsm, latency p99", key: "conc.fsm.p99", unit: "ms", vsDirect: "conc.direct.p99", vsRclone: "conc.rclone.p99"},
	{label: "64 readers via rclone WebDAV, aggregate", key: "conc.rclone.mbps", unit: "MB/s", vsDirect: "conc.direct.mbps"},
	{label: "  rclone, latency p50", key: "conc.rclone.p50", unit: "ms", vsDirect: "conc.direct.p50"},
	{label: "  rclone, latency p99", key: "conc.rclone.p99", unit: "ms", vsDirect: "conc.direct.p99"},
	// Many small files from one origin.
	{label: "**Many staged files ⁵**: fsm, time to stage them all", key: "many.fsm.stage", unit: "s"},
	{label: "  fsm open file descriptors", key: "many.fsm.fds", unit: "fds", vsRclone: "many.rclone.fds"},
	{label: "  fsm RSS", key: "many.fsm.rss", unit: "MiB", vsRclone: "many.rclone.rss"},
	{label: "  fsm PROPFIND Depth 1", key: "many.fsm.propfind", unit: "ms", vsRclone: "many.rclone.propfind"},
	{label: "  rclone serve webdav: open file descriptors", key: "many.rclone.fds", unit: "fds"},
	{label: "  rclone RSS", key: "many.rclone.rss", unit: "MiB"},
	{label: "  rclone PROPFIND Depth 1 (after a first listing)", key: "many.rclone.propfind", unit: "ms"},
	// Upload from a local path while it downloads.
	{label: "**Upload ⁶**: baseline's download (measured)", key: "upload.down.s", unit: "s"},
	{label: "  baseline's upload (measured)", key: "upload.up.s", unit: "s"},
	{label: "  download, then upload: wall / max(download, upload)", key: "upload.dtu.ratio", unit: "×"},
	{label: "  upload from fsm's FUSE mount: wall / max(download, upload)", key: "upload.fuse.ratio", unit: "×", vsDirect: "upload.dtu.ratio"},
	{label: "  upload from rclone mount of fsm: wall / max(download, upload)", key: "upload.rclone.ratio", unit: "×", vsDirect: "upload.dtu.ratio"},
	{label: "  upload from gvfs mount of fsm: wall / max(download, upload)", key: "upload.gvfs.ratio", unit: "×", vsDirect: "upload.dtu.ratio"},
	{label: "  upload from fsm's FUSE mount, origin limiting each connection instead", key: "upload.fuseconn.ratio", unit: "×", vsDirect: "upload.dtu.ratio"},
	// A 1 TiB file through a 2 GiB cache (bigger.go).
	{label: "**Bigger than the cache ⁸**: direct ranged GET at 3/4 of a 1 TiB file", key: "bigger.direct.mbps", unit: "MB/s"},
	{label: "  fsm --cache-max-size 2GiB (streamed)", key: "bigger.fsm.mbps", unit: "MB/s", vsDirect: "bigger.direct.mbps", vsRclone: "bigger.rclone.mbps"},
	{label: "  fsm CPU for it per GiB", key: "bigger.fsm.cpugib", unit: "s/GiB"},
	{label: "  fsm max disk use of its cache dir", key: "bigger.fsm.diskmib", unit: "MiB", vsRclone: "bigger.rclone.diskmib"},
	{label: "  fsm max RSS", key: "bigger.fsm.rss", unit: "MiB", vsRclone: "bigger.rclone.rss"},
	{label: "  fsm slowest of 10 random 64 KiB reads across the file", key: "bigger.fsm.randms", unit: "ms"},
	{label: "  baseline: fsm with no budget, a file that fits (held whole)", key: "bigger.unlimited.mbps", unit: "MB/s", vsDirect: "bigger.direct.mbps"},
	{label: "  its CPU per GiB", key: "bigger.unlimited.cpugib", unit: "s/GiB"},
	{label: "  its max disk use (the whole file reserved)", key: "bigger.unlimited.diskmib", unit: "MiB"},
	{label: "  its max RSS", key: "bigger.unlimited.rss", unit: "MiB"},
	{label: "  rclone serve webdav --vfs-cache-max-size 2GiB, the 1 TiB file", key: "bigger.rclone.mbps", unit: "MB/s", vsDirect: "bigger.direct.mbps"},
	{label: "  rclone max disk use of its cache dir", key: "bigger.rclone.diskmib", unit: "MiB"},
	{label: "  rclone max RSS", key: "bigger.rclone.rss", unit: "MiB"},
}

func ratio(a float64, b measure) (float64, bool) {
	if !b.ok() || b.value() == 0 {
		return 0, false
	}
	return a / b.value(), true
}

// report renders the whole Markdown page: the run, the goals, every figure.
func (h *harness) report(runErr error) string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Written by `bash bench/run.sh` (the harness is `bench/cmd/fsmbench`, described in\n" +
		"[BENCH.md](BENCH.md)); run it again rather than editing this page. Every figure is of the real\n" +
		"`fsm` binary on loopback, next to the direct origin and rclone measured in the same run.\n\n")
	fmt.Fprintf(&b, "## Run of %s\n\n", h.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %s\n", machine())
	fmt.Fprintf(&b, "- load average (1 min): %s at start, %s at end (other work on the machine moves the figures; the ratios within one run are what to trust)\n", h.loadStart, loadAvg())
	fmt.Fprintf(&b, "- fsm: %s; rclone: %s; %s\n", h.commit, toolVersion(h.cfg.rclone), runtime.Version())
	fmt.Fprintf(&b, "- file: %s on loopback; far read origin throttled to %.0f MB/s per connection\n", sizeText(h.cfg.size), float64(h.cfg.farRate)/1e6)
	fmt.Fprintf(&b, "- per-connection-limited origin: a separate %s file, %.0f MB/s per connection\n", sizeText(h.cfg.thrSize), float64(h.cfg.thrRate)/1e6)
	fmt.Fprintf(&b, "- many files: %d files of %s from one origin; upload: %s, download and upload links %.0f MB/s each\n",
		h.cfg.files, sizeText(manySize), sizeText(h.cfg.upSize), float64(h.cfg.upRate)/1e6)
	fmt.Fprintf(&b, "- %d interleaved round(s) (%s; many files, the stall and the 1 TiB file in the first only), each scenario with a fresh origin, server and cache; median (min–max) shown\n",
		h.cfg.runs, thrRounds(h.cfg.thrRuns, h.cfg.runs))
	fmt.Fprintf(&b, "- run took %s; every transfer verified against the origin's content\n\n", time.Since(h.started).Round(time.Second))
	b.WriteString(h.goalsSection())
	b.WriteString("\n## Every figure\n\n")
	b.WriteString("| scenario | result | vs direct | vs rclone | goal | met? |\n")
	b.WriteString("| --- | ---: | ---: | ---: | --- | --- |\n")
	for _, rw := range rows {
		b.WriteString(h.renderRow(rw))
	}
	b.WriteString("\nRatios are this/other: for MB/s higher is better, for ms, seconds, MiB and descriptors lower is better.\n\n")
	b.WriteString("¹ The goal column shows the bound of the goals table (`bench/cmd/fsmbench/goals.tsv`) for that row; where it is a\n" +
		"ratio, it is judged against the column it names.\n")
	fmt.Fprintf(&b, "² Origin limited to %.0f MB/s per connection, as CDNs and cloud storage limit each connection:\n"+
		"one connection (direct; rclone, which streams over one) cannot beat that rate; fsm opens parallel\n"+
		"range connections when they deliver more. \"vs direct\" there is the gain over a single connection.\n", float64(h.cfg.thrRate)/1e6)
	fmt.Fprintf(&b, "³ fsm serves a complete file and one whose origin holds every GET; %d `dd` reads of the stalled\n"+
		"file are open and waiting (fsm's API shows the handles; the origin holds a GET) when a `dd` of the\n"+
		"complete file (%s, its pages dropped with fadvise first) is timed; cut at %v.\n", stallReaders, sizeText(stallOKSize), stallReadMax)
	fmt.Fprintf(&b, "⁴ %d clients start together, each reading %d ranges of %s at random offsets (fixed seed: the\n"+
		"same ranges for all three) of the cold file over its own keep-alive connection; aggregate = all bytes / wall time.\n",
		concReaders, concRanges, sizeText(concRange))
	b.WriteString("⁵ fsm stages every file from the command line (`fsm serve URL...`, in the background); once the API lists\n" +
		"none as probing, its descriptors (`/proc/PID/fd`) and RSS are read and the folder listed three times\n" +
		"(median). rclone serve webdav lists the same origin's HTML index.\n")
	b.WriteString("⁶ A browser-like client opens the file on the mount and POSTs it (length up front, read as it goes) to a local\n" +
		"site whose uplink is paced, while the origin's downlink is paced too (each a total rate over all connections).\n" +
		"max(download, upload) is the file's time at the slower link's rate. Baseline: download to a local file, then\n" +
		"upload it. \"vs direct\" there is against the baseline's ratio. The gvfs rows run `fsm serve --mount` (gvfs on Linux)\n" +
		"in a private D-Bus session with gvfsd and read the path fsm reports. The last row limits the origin per connection\n" +
		"(testorigin's pacing, as the end-to-end browser test does) instead of in total.\n")
	b.WriteString(tlsNote)
	b.WriteString(h.biggerNote())
	b.WriteString(h.busyNote())
	if why := h.res["fuse.fsm.mbps"].why; why != "" {
		fmt.Fprintf(&b, "\nFUSE skipped: %s\n", why)
	}
	if h.plotFile != "" {
		fmt.Fprintf(&b, "\n## Upload over time\n\n![bytes downloaded and uploaded over time](%s)\n\n", h.plotFile)
		b.WriteString("Bytes through the origin's downlink (dashed) and the site's uplink (solid) during one upload\n" +
			"(last round): download-then-upload finishes the download before its upload starts; from fsm's mount the\n" +
			"upload runs while the file streams in and ends about when the download does.\n")
	}
	if runErr != nil {
		fmt.Fprintf(&b, "\n**Harness error** (figures above may be incomplete):\n\n```\n%v\n```\n", runErr)
	}
	return b.String()
}

// goalsSection is the verdict: every goal of the table with its figure.
func (h *harness) goalsSection() string {
	var b strings.Builder
	b.WriteString("## Goals\n\n| issue | figure | measured | goal | met? |\n| --- | --- | ---: | --- | --- |\n")
	for _, g := range h.goals {
		v, met, ok := g.judge(h.res)
		measured, verdict := "n/a", "n/a"
		if why := h.res[g.key].why; why != "" {
			measured = "skipped: " + why
		}
		if ok {
			measured = formatValue(v, g.unit)
			if g.vs != "" {
				measured = fmt.Sprintf("%s vs %s: %.2f×", formatValue(h.res[g.key].value(), unitOf(g.key)),
					formatValue(h.res[g.vs].value(), unitOf(g.vs)), v)
			}
			verdict = "**no**"
			if met {
				verdict = "yes"
			}
		}
		issue := g.issue
		if issue != "-" {
			issue = "#" + issue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", issue, g.figure, measured, g.text(), verdict)
	}
	return b.String()
}

// unitOf is the unit of a figure, from its row.
func unitOf(key string) string {
	for _, rw := range rows {
		if rw.key == key {
			return rw.unit
		}
	}
	return ""
}

// goalCells renders the goal and verdict columns of a row.
func (h *harness) goalCells(key string) (string, string) {
	var texts, verdicts []string
	for _, g := range h.goals {
		if g.key != key {
			continue
		}
		t := g.text()
		switch {
		case strings.Contains(g.vs, "rclone"):
			t += " rclone"
		case strings.Contains(g.vs, "direct"):
			t += " direct"
		case strings.Contains(g.vs, "curl"):
			t += " curl"
		case g.vs != "": // a baseline with no column of its own
			t += " " + g.vs
		}
		texts = append(texts, t)
		verdict := "n/a"
		if _, met, ok := g.judge(h.res); ok && met {
			verdict = "yes"
		} else if ok {
			verdict = "**no**"
		}
		verdicts = append(verdicts, verdict)
	}
	return strings.Join(texts, ", "), strings.Join(verdicts, ", ")
}

func (h *harness) renderRow(rw row) string {
	self := h.res[rw.key]
	goal, met := h.goalCells(rw.key)
	if !self.ok() {
		val := "n/a"
		if self.why != "" {
			val = "skipped"
		}
		return fmt.Sprintf("| %s | %s | | | %s | %s |\n", rw.label, val, goal, met)
	}
	v := self.value()
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s |\n",
		rw.label, formatMeasure(self, rw.unit), h.ratioCell(v, rw.vsDirect), h.ratioCell(v, rw.vsRclone), goal, met)
}

// sizeText prints a byte count the way the flags take it.
func sizeText(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return humanize.Bytes(uint64(n))
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
	if len(m.samples) < 2 {
		return s
	}
	lo, hi := slices.Min(m.samples), slices.Max(m.samples)
	switch unit {
	case "HTTP": // a protocol, not a measure: say only when it changed between rounds
		if lo != hi {
			s = formatValue(lo, unit) + " or " + formatValue(hi, unit)
		}
	case "req":
		s += fmt.Sprintf(" (%.0f–%.0f)", lo, hi)
	default:
		s += " (" + strings.TrimSuffix(formatValue(lo, unit), " "+unit) + "–" + formatValue(hi, unit) + ")"
	}
	return s
}

func formatValue(v float64, unit string) string {
	switch unit {
	case "MB/s":
		return fmt.Sprintf("%.0f MB/s", v)
	case "ms":
		return fmt.Sprintf("%.1f ms", v)
	case "s", "s/GiB":
		return fmt.Sprintf("%.2f %s", v, unit)
	case "MiB":
		return fmt.Sprintf("%.0f MiB", v)
	case "×":
		return fmt.Sprintf("%.2f×", v)
	case "HTTP": // a version as curl writes it: 1.1, 2
		return fmt.Sprintf("HTTP/%g", v)
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
		{"tls.h1.direct", "TLS h1 direct"}, {"tls.h1.fsm", "TLS h1 fsm"}, {"tls.h1.rclone", "TLS h1 rclone"},
		{"tls.h2.direct", "TLS h2 direct"}, {"tls.h2.fsm", "TLS h2 fsm"}, {"tls.h2.rclone", "TLS h2 rclone"},
		{"tls.h2only.direct", "TLS h2-only direct"}, {"tls.h2only.fsm", "TLS h2-only fsm"}, {"tls.h2only.rclone", "TLS h2-only rclone"},
		{"tls.h1.unl.direct", "unlimited TLS h1 direct"}, {"tls.h1.unl.fsm", "unlimited TLS h1 fsm"}, {"tls.h1.unl.rclone", "unlimited TLS h1 rclone"},
		{"tls.h1.curl", "unlimited TLS h1 curl"}, {"tls.h1.curlpipe", "unlimited TLS h1 curl into a pipe"}, {"tls.h1.fsm.dl", "unlimited TLS h1 fsm download alone"},
		{"tls.h2.unl.direct", "unlimited TLS h2 direct"}, {"tls.h2.unl.fsm", "unlimited TLS h2 fsm"}, {"tls.h2.unl.rclone", "unlimited TLS h2 rclone"},
		{"tls.h2.curl", "unlimited TLS h2 curl"}, {"tls.h2.curlpipe", "unlimited TLS h2 curl into a pipe"}, {"tls.h2.fsm.dl", "unlimited TLS h2 fsm download alone"},
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
