package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"fsm/control/api"
	"fsm/internal/safetext"
	"fsm/internal/termui"
)

type lsCmd struct {
	JSON  bool `name:"json" help:"Print the API's JSON array of file objects as it is (with --watch: the whole array again, on one line, after each change)."`
	Long  bool `short:"l" help:"Also show each file's source URL (decoded, without its query string) and the names of its request headers."`
	Watch bool `help:"Redraw live as files change, until Ctrl-C."`
	clientFlags
}

// barWidth is the progress bar's widest width in columns, brackets
// included; narrow terminals get a shorter bar or none (lsLayouts).
const barWidth = 22

// minNameWidth is the narrowest the NAME column is cut to before a leaner
// layout is tried: below it, names stop telling files apart.
const minNameWidth = 16

// redrawEvery bounds how often --watch redraws a terminal: events of many
// files at once become one frame.
const redrawEvery = 150 * time.Millisecond

// lsLayout is one way of laying a listing out: how wide the bar is (0: no
// PROGRESS column) and whether the local paths are the last column or
// each on its own line under its file.
type lsLayout struct {
	bar         int
	pathsColumn bool
}

// lsLayouts are tried richest first until one fits the terminal (with the
// names cut in the middle to no less than minNameWidth). Output that is not
// a terminal has no width and always gets the first.
var lsLayouts = []lsLayout{
	{bar: barWidth, pathsColumn: true},
	{bar: barWidth},
	{bar: 12},
	{bar: 8},
	{bar: 0},
}

// lsView is how a listing is drawn.
type lsView struct {
	width  int // the terminal's columns; 0 when not a terminal: nothing is fitted
	long   bool
	webdav string // the server's WebDAV root, for the hint on how to get a local path
}

// terminal reports whether the view is for a person at a terminal: Unicode
// bars and marks, a totals line, hints. Otherwise it is plain ASCII, one
// line per file plus its notes, for pipes and scripts.
func (v lsView) terminal() bool { return v.width > 0 }

func (v lsView) style() termui.BarStyle {
	if v.terminal() {
		return termui.Blocks
	}
	return termui.ASCII
}

func (c *lsCmd) Run() error {
	cl, err := c.connect()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.Watch {
		err := c.watch(ctx, cl)
		if ctx.Err() != nil {
			return nil // Ctrl-C is how a watch ends
		}
		return err
	}
	body, err := cl.raw(ctx, api.PathFiles)
	if err != nil {
		return err
	}
	if c.JSON {
		os.Stdout.Write(body)
		if !bytes.HasSuffix(body, []byte("\n")) {
			fmt.Println()
		}
		return nil
	}
	var files []fileInfo
	if err := json.Unmarshal(body, &files); err != nil {
		return fmt.Errorf("the fsm server at %s sent a file list that is not the expected JSON: %w", cl.addr, err)
	}
	v := lsView{width: termui.TermWidth(os.Stdout), long: c.Long, webdav: cl.base + "/"}
	if v.width > 0 {
		v.width-- // the last column stays free: some terminals wrap a line that fills it
	}
	for _, l := range fileTable(files, v) {
		fmt.Println(l)
	}
	var in api.Info
	if err := cl.do(ctx, http.MethodGet, api.PathInfo, nil, &in); err == nil {
		if line := awakeLine(in.KeepAwake); line != "" {
			fmt.Println(line)
		}
	}
	return nil
}

// awakeLine is the totals line about sleep prevention: only while fsm
// keeps the computer awake, so an idle listing stays as it was.
func awakeLine(ka api.KeepAwake) string {
	if !ka.Active {
		return ""
	}
	return "keeping the computer awake: " + ka.Reason
}

// fileTable is the listing of files, or a line saying there are none. On
// a terminal it starts with the totals and is fitted to the width.
func fileTable(files []fileInfo, v lsView) []string {
	if len(files) == 0 {
		return []string{"no files staged; add one with: fsm stage URL"}
	}
	var lines []string
	if v.terminal() {
		lines = append(lines, totalsLine(listedFiles(files)))
	}
	lay := lsLayouts[0]
	nameWidth := 0 // 0: names as they are
	if v.terminal() {
		lay, nameWidth = fitLayout(files, v)
	}
	cols, rows := fileRows(files, v, lay)
	if nameWidth > 0 {
		for i := range rows {
			rows[i].Cells[0] = termui.Middle(rows[i].Cells[0], nameWidth)
		}
	}
	lines = append(lines, termui.Table(cols, rows)...)
	lines = append(lines, localPathHint(listedFiles(files), v)...)
	return lines
}

// fitLayout picks the richest layout whose columns fit v.width with the
// names cut to the room left (never below minNameWidth, unless even the
// leanest layout leaves less; the screen then cuts the lines).
func fitLayout(files []fileInfo, v lsView) (lsLayout, int) {
	for i, lay := range lsLayouts {
		cols, rows := fileRows(files, v, lay)
		widths := termui.Widths(cols, rows)
		others := 2 * (len(widths) - 1)
		for _, w := range widths[1:] {
			others += w
		}
		room := v.width - others
		if widths[0] <= room {
			return lay, 0
		}
		if room >= minNameWidth || i == len(lsLayouts)-1 {
			return lay, max(room, 1)
		}
	}
	panic("unreachable: the last layout always fits")
}

// fileRows are the columns of lay and the rows of the listing: a row per
// file, and for a staged folder its own row (count and sums) followed by a
// row per file in it, named below the folder.
func fileRows(files []fileInfo, v lsView, lay lsLayout) ([]termui.Column, []termui.Row) {
	var cols []termui.Column
	for _, c := range lsColumns {
		if (c.Head == "PROGRESS" && lay.bar == 0) || (c.Head == "PATHS" && !lay.pathsColumn) {
			continue
		}
		cols = append(cols, c)
	}
	rows := make([]termui.Row, 0, len(files))
	for _, f := range files {
		if f.Folder {
			rows = append(rows, folderRows(f, v, lay)...)
			continue
		}
		rows = append(rows, fileRow(f, f.Name, v, lay))
	}
	return cols, rows
}

// fileRow is f's row in lay, shown as name, with its notes.
func fileRow(f fileInfo, name string, v lsView, lay lsLayout) termui.Row {
	cells := fileCellsWith(f, v.style(), lay.bar)
	cells[0] = name
	if !lay.pathsColumn {
		cells = cells[:len(cells)-1]
	}
	if lay.bar == 0 {
		cells = slices.Delete(cells, 2, 3)
	}
	return termui.Row{Cells: cells, Notes: fileNotes(f, v, lay)}
}

// folderRows are a staged folder's line, with its count and the sums of
// its files, and then a line per file, named below the folder.
func folderRows(f fileInfo, v lsView, lay lsLayout) []termui.Row {
	name := f.Name + "/ (" + countNoun(f.Files, "file")
	if f.Failed > 0 {
		name += fmt.Sprintf(", %d failed", f.Failed)
	}
	rows := []termui.Row{fileRow(f, name+")", v, lay)}
	for _, e := range f.Entries {
		rows = append(rows, fileRow(e, "  "+strings.TrimPrefix(e.Name, f.Name+"/"), v, lay))
	}
	return rows
}

// listedFiles are the files of a listing, a folder's own files in place
// of its row: what the totals count and the local path hint looks at.
func listedFiles(files []fileInfo) []fileInfo {
	out := make([]fileInfo, 0, len(files))
	for _, f := range files {
		if f.Folder {
			out = append(out, f.Entries...)
			continue
		}
		out = append(out, f)
	}
	return out
}

// fileNotes are the lines under a file's row: its local paths when they
// are not a column (each whole, so it can be copied), its failure, and with
// -l its URL and header names.
func fileNotes(f fileInfo, v lsView, lay lsLayout) []string {
	var notes []string
	if !lay.pathsColumn {
		for _, p := range f.Paths {
			notes = append(notes, "→ "+p)
		}
	}
	switch {
	case f.Error != "" && v.terminal():
		notes = append(notes, "└ "+f.Error)
	case f.Error != "":
		notes = append(notes, "error: "+f.Error)
	case f.StreamingCache > 0:
		// A file larger than the cache: older bytes are released.
		notes = append(notes, "streaming through "+humanize.Bytes(uint64(f.StreamingCache))+" of cache")
	}
	if v.long {
		if f.URL != "" {
			u := displayURL(f.URL)
			if f.URLQuery && !strings.HasSuffix(u, "?…") {
				u += "?…" // a query string is there, never shown
			}
			notes = append(notes, "url: "+u)
		}
		if len(f.Headers) > 0 {
			notes = append(notes, "headers: "+strings.Join(f.Headers, ", "))
		}
	}
	return notes
}

// localPathHint says, on a terminal, how to get a local path when a file
// has none: local paths are what a browser's upload dialog can open. Two
// short lines, so that 80 columns hold them.
func localPathHint(files []fileInfo, v lsView) []string {
	if !v.terminal() {
		return nil
	}
	for _, f := range files {
		if f.Size != nil && len(f.Paths) == 0 {
			return []string{
				"no local path: start fsm serve with --fuse DIR or --mount,",
				"or mount " + v.webdav + " with a WebDAV client",
			}
		}
	}
	return nil
}

// totalsLine sums the listing up as the page does: "3 files · 2
// downloading · 7.4 MB/s · 52 MB of 379 MB".
func totalsLine(files []fileInfo) string {
	noun := "files"
	if len(files) == 1 {
		noun = "file"
	}
	parts := []string{fmt.Sprintf("%d %s", len(files), noun)}
	var downloading int
	var rate, done, total int64
	for _, f := range files {
		if f.State == "downloading" {
			downloading++
		}
		rate += max(f.Rate, 0)
		if f.Size != nil {
			done += min(f.Downloaded, *f.Size)
			total += *f.Size
		}
	}
	if downloading > 0 {
		parts = append(parts, fmt.Sprintf("%d downloading", downloading))
	}
	if rate > 0 {
		parts = append(parts, humanize.Bytes(uint64(rate))+"/s")
	}
	if total > 0 {
		parts = append(parts, humanize.Bytes(uint64(done))+" of "+humanize.Bytes(uint64(total)))
	}
	return strings.Join(parts, " · ")
}

// displayURL is a source URL as a person reads it: its path decoded
// (%20 shown as a space) and its query string, if any, marked as hidden.
// Control characters a decoded path could carry are escaped.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return safetext.Line(raw)
	}
	s := u.Scheme + "://" + u.Host + u.Path
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return safetext.Line(s)
}

var lsColumns = []termui.Column{
	{Head: "NAME"},
	{Head: "SIZE", Align: termui.Right},
	{Head: "PROGRESS"},
	{Head: "%", Align: termui.Right},
	{Head: "RATE", Align: termui.Right},
	{Head: "LEFT", Align: termui.Right},
	{Head: "STATE"},
	{Head: "HANDLES", Align: termui.Right},
	{Head: "PATHS"},
}

// fileCells are a file's cells in lsColumns' order, with the widest bar.
func fileCells(f fileInfo, style termui.BarStyle) []string {
	return fileCellsWith(f, style, barWidth)
}

// fileCellsWith are a file's cells in lsColumns' order with a bar of the
// given width. Sizes and rates are SI (MB), as on the page.
func fileCellsWith(f fileInfo, style termui.BarStyle, bar int) []string {
	size, pct, total := "-", "-", int64(0)
	switch {
	case f.Size != nil:
		total = *f.Size
		size = humanize.Bytes(uint64(total))
		pct = strconv.FormatInt(percent(f.Downloaded, total), 10) + "%"
	case f.Downloaded > 0:
		// A source of unknown size downloading whole: its size is at
		// least what has arrived.
		atLeast := ">="
		if style == termui.Blocks {
			atLeast = "≥"
		}
		size = atLeast + humanize.Bytes(uint64(f.Downloaded))
	}
	done := f.Downloaded
	if total == 0 && f.Size != nil {
		done, total = 1, 1 // an empty file is complete
	}
	rate, left := "-", "-"
	if f.State == "downloading" || f.Rate > 0 {
		rate = humanize.Bytes(uint64(max(f.Rate, 0))) + "/s"
	}
	if f.State == "downloading" && f.Rate > 0 && f.Size != nil && *f.Size > f.Downloaded {
		left = shortDuration(time.Duration(float64(*f.Size-f.Downloaded) / float64(f.Rate) * float64(time.Second)))
	}
	return []string{
		f.Name,
		size,
		termui.Bar(style, max(bar, 3), done, total),
		pct,
		rate,
		left,
		stateCell(f),
		strconv.Itoa(f.OpenHandles),
		pathsCell(f),
	}
}

// stateCell is a file's STATE: "retrying" while its fetches fail and are
// retried (the state alone says downloading then), else its state, with the
// after-read action when there is one ("complete (then evict)"): keep, the
// default, says nothing.
func stateCell(f fileInfo) string {
	state := f.State
	if f.Retrying != nil {
		state = "retrying"
	}
	if f.AfterRead == "" || f.AfterRead == "keep" {
		return state
	}
	return state + " (then " + f.AfterRead + ")"
}

// pathsCell is the PATHS column: the local paths, each quoted as a shell
// would need it when it has blanks or quotes, so several stay separable;
// "none" for a file that has no local path (no --fuse, no --mount).
func pathsCell(f fileInfo) string {
	if f.Folder {
		return "" // its files, on the rows under it, have the paths
	}
	if len(f.Paths) == 0 {
		if f.Size != nil {
			return "none"
		}
		return "" // probing or failed: no file to have a path yet
	}
	quoted := make([]string, len(f.Paths))
	for i, p := range f.Paths {
		quoted[i] = shellQuote(p)
	}
	return strings.Join(quoted, " ")
}

// shellQuote is p as is when it has nothing a shell splits or
// interprets, else in single quotes (a quote inside becomes quote, backslash, quote, quote).
func shellQuote(p string) string {
	if p != "" && !strings.ContainsAny(p, " \t\n'\"\\$`;&|<>()*?[]#~!{}") {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

// shortDuration is d for a column: 42s, 3m05s, 2h07m.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// percent is done of total in whole percent, rounded down so that 100% means
// every byte is there.
func percent(done, total int64) int64 {
	if total <= 0 {
		return 100
	}
	return min(done, total) * 100 / total
}

// Backoff of --watch while its server is gone: quick for a restart, then
// no more than one try every watchRetryMax.
const (
	watchRetryMin = 250 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// watch follows GET events until ctx ends. A server that goes away (an
// upgrade, a reboot, a restart by the service manager) is waited for, with
// backoff, and the display resumes when it answers again; only a server
// that is not there at the start, or an answer that is not fsm's, ends the
// watch.
func (c *lsCmd) watch(ctx context.Context, cl *apiClient) error {
	v := newWatchView(cl.addr, c.JSON)
	v.long, v.webdav = c.Long, cl.base+"/"
	screen, live := termui.NewScreen(os.Stdout)
	live = live && !c.JSON
	connected, gone := false, false
	delay := watchRetryMin
	for {
		err := v.follow(ctx, cl, screen, live, func() {
			connected = true
			delay = watchRetryMin
			if gone {
				gone = false
				v.status = ""
				if !live {
					fmt.Fprintf(os.Stderr, "fsm: the fsm server at %s answers again\n", cl.addr)
				}
			}
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var g *goneError
		if !connected || !errors.As(err, &g) {
			return err
		}
		if !gone {
			gone = true
			if !live {
				fmt.Fprintf(os.Stderr, "fsm: %v; retrying until it answers (Ctrl-C to stop)\n", g.err)
			}
		}
		if live {
			v.status = fmt.Sprintf("server gone, retrying in %s", shortDuration(max(delay, time.Second)))
			screen.Draw(v.frame(screen.Width()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, watchRetryMax)
		c.retoken(cl)
	}
}

// retoken reads the server's token again before a retry: a restarted
// server has written a new one, with its own pid, and the check of each
// connection refuses a server other than the token's writer. A token given
// on the command line stays.
func (c *lsCmd) retoken(cl *apiClient) {
	switch {
	case c.Token != "":
	case c.TokenFile != "":
		if r, err := readTokenFile(c.TokenFile, false); err == nil {
			cl.token = token{value: r.token, file: c.TokenFile, pid: r.pid, addr: r.addr}
		}
	default:
		cl.token = findToken(cl.addr)
	}
}

// goneError is a server that went away (its stream ended, nothing answers
// at its address): --watch waits for it.
type goneError struct{ err error }

func (e *goneError) Error() string { return e.err.Error() }
func (e *goneError) Unwrap() error { return e.err }

// follow shows one events stream until it ends; opened is called once the
// server has answered.
func (v *watchView) follow(ctx context.Context, cl *apiClient, screen *termui.Screen, live bool, opened func()) error {
	resp, err := cl.send(ctx, http.MethodGet, api.PathEvents, nil)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return err // an answer, not fsm's events: waiting will not help
		}
		return &goneError{err}
	}
	defer resp.Body.Close()
	opened()
	// Closing the body is what stops a blocked read of the stream.
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	if err := v.forgetGone(ctx, cl, live); err != nil {
		return err
	}

	events := make(chan event)
	streamErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		streamErr <- readEvents(resp.Body, func(ev event) error {
			select {
			case events <- ev:
				return nil
			case <-done:
				return context.Canceled
			}
		})
	}()

	if live {
		return v.liveLoop(ctx, screen, events, streamErr)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-streamErr:
			return v.streamEnded(err)
		case ev := <-events:
			changed, err := v.apply(ev)
			if err != nil {
				return err
			}
			if changed != nil {
				fmt.Println(v.plainLine(ev, changed))
			}
		}
	}
}

// forgetGone drops the files that went while the watch was away from its
// server (a restarted server's stream starts with the files it has, and
// cannot say which it no longer has), printing their removal when piped.
func (v *watchView) forgetGone(ctx context.Context, cl *apiClient, live bool) error {
	if len(v.files) == 0 {
		return nil
	}
	var now []fileInfo
	if err := cl.do(ctx, http.MethodGet, api.PathFiles, nil, &now); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return err
		}
		return &goneError{err}
	}
	have := make(map[string]bool, len(now))
	for _, f := range now {
		have[f.Name] = true
	}
	for _, w := range v.sorted() {
		if have[w.info.Name] {
			continue
		}
		delete(v.files, w.info.Name)
		if !live {
			f := w.info
			fmt.Println(v.plainLine(event{kind: "removed"}, &f))
		}
	}
	return nil
}

// watchView is the state --watch shows: the latest object of every file.
type watchView struct {
	addr   string
	json   bool
	long   bool   // -l: URLs and header names too
	webdav string // the server's WebDAV root, for the local path hint
	files  map[string]watched
	awake  api.KeepAwake // the latest keep_awake event
	// status replaces the title's hint while the server is gone.
	status string
}

type watched struct {
	info fileInfo
	raw  json.RawMessage // the object as the server sent it, compacted
}

func newWatchView(addr string, asJSON bool) *watchView {
	return &watchView{addr: addr, json: asJSON, files: map[string]watched{}}
}

// apply records one event. It returns the changed file (nil for an event
// it does not know, which a newer server may send).
func (v *watchView) apply(ev event) (*fileInfo, error) {
	var f fileInfo
	if err := json.Unmarshal(ev.data, &f); err != nil {
		return nil, fmt.Errorf("the fsm server at %s sent an event that is not the expected JSON: %w", v.addr, err)
	}
	switch ev.kind {
	case "file":
		var compact bytes.Buffer
		if err := json.Compact(&compact, ev.data); err != nil {
			return nil, fmt.Errorf("the fsm server at %s sent an event that is not the expected JSON: %w", v.addr, err)
		}
		v.files[f.Name] = watched{info: f, raw: compact.Bytes()}
	case "removed":
		delete(v.files, f.Name)
	case "keep_awake":
		if err := json.Unmarshal(ev.data, &v.awake); err != nil {
			return nil, fmt.Errorf("the fsm server at %s sent an event that is not the expected JSON: %w", v.addr, err)
		}
		return nil, nil
	default:
		return nil, nil
	}
	return &f, nil
}

// sorted returns the files by name, as GET files lists them.
func (v *watchView) sorted() []watched {
	out := make([]watched, 0, len(v.files))
	for _, w := range v.files {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b watched) int { return strings.Compare(a.info.Name, b.info.Name) })
	return out
}

// plainLine is what a watch prints for one change when it cannot redraw
// (not a terminal) or prints JSON: a line per change.
func (v *watchView) plainLine(ev event, f *fileInfo) string {
	if v.json {
		parts := make([][]byte, 0, len(v.files))
		for _, w := range v.sorted() {
			parts = append(parts, w.raw)
		}
		return "[" + string(bytes.Join(parts, []byte(","))) + "]"
	}
	if ev.kind == "removed" {
		return "removed  " + f.Name
	}
	cells := fileCells(*f, termui.ASCII)
	line := strings.TrimRight(strings.Join(cells, "  "), " ")
	if f.Error != "" {
		line += "  " + f.Error
	}
	if v.long && f.URL != "" {
		line += "  " + displayURL(f.URL)
	}
	return line
}

// liveLoop redraws the terminal with the whole table, at most every
// redrawEvery while events arrive, and at once when the terminal is
// resized: the layout is fitted to the width anew.
func (v *watchView) liveLoop(ctx context.Context, screen *termui.Screen, events <-chan event, streamErr <-chan error) error {
	tick := time.NewTicker(redrawEvery)
	defer tick.Stop()
	resized := make(chan os.Signal, 1)
	defer termui.NotifyResize(resized)()
	dirty := true
	for {
		select {
		case <-ctx.Done():
			if dirty {
				screen.Draw(v.frame(screen.Width()))
			}
			return ctx.Err()
		case err := <-streamErr:
			screen.Draw(v.frame(screen.Width()))
			return v.streamEnded(err)
		case ev := <-events:
			if _, err := v.apply(ev); err != nil {
				return err
			}
			dirty = true
		case <-resized:
			if err := screen.Draw(v.frame(screen.Width())); err != nil {
				return err
			}
			dirty = false
		case <-tick.C:
			if !dirty {
				continue
			}
			if err := screen.Draw(v.frame(screen.Width())); err != nil {
				return err
			}
			dirty = false
		}
	}
}

// frame is the whole screen for a terminal width columns wide.
func (v *watchView) frame(width int) []string {
	files := v.sorted()
	infos := make([]fileInfo, len(files))
	for i, w := range files {
		infos[i] = w.info
	}
	noun := "files"
	if len(files) == 1 {
		noun = "file"
	}
	parts := []string{"fsm at " + v.addr, fmt.Sprintf("%d %s", len(files), noun)}
	switch {
	case v.status != "":
		parts = append(parts, v.status)
	case v.awake.Active:
		parts = append(parts, awakeLine(v.awake))
	}
	title := strings.Join(append(parts, "Ctrl-C to stop"), " · ")
	// Screen keeps the last column free.
	view := lsView{width: max(width-1, 1), long: v.long, webdav: v.webdav}
	return append([]string{title, ""}, fileTable(infos, view)...)
}

// streamEnded is why a stream ended: a goneError unless ctx ended it.
func (v *watchView) streamEnded(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &goneError{fmt.Errorf("the fsm server at %s ended the event stream (was it stopped?)", v.addr)}
	}
	return &goneError{fmt.Errorf("event stream of the fsm server at %s: %w", v.addr, err)}
}
