package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"

	"fsm/control/api"
	"fsm/internal/termui"
)

type lsCmd struct {
	JSON  bool `name:"json" help:"Print the API's JSON array of file objects as it is (with --watch: the whole array again, on one line, after each change)."`
	Watch bool `help:"Redraw live as files change, until Ctrl-C."`
	clientFlags
}

// barWidth is the progress bar's width in columns, brackets included.
const barWidth = 22

// redrawEvery bounds how often --watch redraws a terminal: events of many
// files at once become one frame.
const redrawEvery = 150 * time.Millisecond

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
	style := termui.ASCII
	if termui.IsTerminal(os.Stdout) {
		style = termui.Blocks
	}
	for _, l := range fileTable(files, style) {
		fmt.Println(l)
	}
	return nil
}

// fileTable is the table of files, or a line saying there are none.
func fileTable(files []fileInfo, style termui.BarStyle) []string {
	if len(files) == 0 {
		return []string{"no files staged; add one with: fsm stage URL"}
	}
	rows := make([]termui.Row, 0, len(files))
	for _, f := range files {
		if f.Folder {
			rows = append(rows, folderRows(f, style)...)
			continue
		}
		rows = append(rows, fileRow(f, f.Name, style))
	}
	return termui.Table(lsColumns, rows)
}

func fileRow(f fileInfo, name string, style termui.BarStyle) termui.Row {
	r := termui.Row{Cells: fileCells(f, style)}
	r.Cells[0] = name
	switch {
	case f.Error != "":
		r.Note = "└ " + f.Error
	case f.StreamingCache > 0:
		r.Note = "└ streaming through " + humanize.IBytes(uint64(f.StreamingCache)) + " of cache"
	}
	return r
}

// folderRows are a staged folder's line, with its count and the sums of
// its files, and then a line per file, named below the folder.
func folderRows(f fileInfo, style termui.BarStyle) []termui.Row {
	name := f.Name + "/ (" + countNoun(f.Files, "file")
	if f.Failed > 0 {
		name += fmt.Sprintf(", %d failed", f.Failed)
	}
	rows := []termui.Row{fileRow(f, name+")", style)}
	for _, e := range f.Entries {
		rows = append(rows, fileRow(e, "  "+strings.TrimPrefix(e.Name, f.Name+"/"), style))
	}
	return rows
}

// fileCells are a file's cells in lsColumns' order.
func fileCells(f fileInfo, style termui.BarStyle) []string {
	size, pct, total := "-", "-", int64(0)
	if f.Size != nil {
		total = *f.Size
		size = humanize.IBytes(uint64(total))
		pct = strconv.FormatInt(percent(f.Downloaded, total), 10) + "%"
	}
	done := f.Downloaded
	if total == 0 && f.Size != nil {
		done, total = 1, 1 // an empty file is complete
	}
	rate, left := "-", "-"
	if f.State == "downloading" || f.Rate > 0 {
		rate = humanize.IBytes(uint64(max(f.Rate, 0))) + "/s"
	}
	if f.State == "downloading" && f.Rate > 0 && f.Size != nil && *f.Size > f.Downloaded {
		left = shortDuration(time.Duration(float64(*f.Size-f.Downloaded) / float64(f.Rate) * float64(time.Second)))
	}
	return []string{
		f.Name,
		size,
		termui.Bar(style, barWidth, done, total),
		pct,
		rate,
		left,
		stateCell(f),
		strconv.Itoa(f.OpenHandles),
		strings.Join(f.Paths, " "),
	}
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

// watch follows GET events until ctx ends or the stream does.
func (c *lsCmd) watch(ctx context.Context, cl *apiClient) error {
	resp, err := cl.send(ctx, http.MethodGet, api.PathEvents, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Closing the body is what stops a blocked read of the stream.
	go func() {
		<-ctx.Done()
		resp.Body.Close()
	}()

	events := make(chan event)
	streamErr := make(chan error, 1)
	go func() {
		streamErr <- readEvents(resp.Body, func(ev event) error {
			select {
			case events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()

	v := newWatchView(cl.addr, c.JSON)
	screen, live := termui.NewScreen(os.Stdout)
	if live && !c.JSON {
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

// watchView is the state --watch shows: the latest object of every file.
type watchView struct {
	addr  string
	json  bool
	files map[string]watched
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
	return line
}

// liveLoop redraws the terminal with the whole table, at most every
// redrawEvery, while events arrive.
func (v *watchView) liveLoop(ctx context.Context, screen *termui.Screen, events <-chan event, streamErr <-chan error) error {
	tick := time.NewTicker(redrawEvery)
	defer tick.Stop()
	dirty := true
	for {
		select {
		case <-ctx.Done():
			if dirty {
				screen.Draw(v.frame())
			}
			return ctx.Err()
		case err := <-streamErr:
			screen.Draw(v.frame())
			return v.streamEnded(err)
		case ev := <-events:
			if _, err := v.apply(ev); err != nil {
				return err
			}
			dirty = true
		case <-tick.C:
			if !dirty {
				continue
			}
			if err := screen.Draw(v.frame()); err != nil {
				return err
			}
			dirty = false
		}
	}
}

func (v *watchView) frame() []string {
	files := v.sorted()
	infos := make([]fileInfo, len(files))
	for i, w := range files {
		infos[i] = w.info
	}
	noun := "files"
	if len(files) == 1 {
		noun = "file"
	}
	title := fmt.Sprintf("fsm at %s · %d %s · Ctrl-C to stop", v.addr, len(files), noun)
	return append([]string{title, ""}, fileTable(infos, termui.Blocks)...)
}

func (v *watchView) streamEnded(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the fsm server at %s ended the event stream (was it stopped?)", v.addr)
	}
	return fmt.Errorf("event stream of the fsm server at %s: %w", v.addr, err)
}
