package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/net/http/httpguts"

	"fsm/control/api"
	"fsm/internal/redact"
	"fsm/internal/safetext"
	"fsm/vfs"
)

type stageCmd struct {
	Sources   []string `arg:"" name:"SOURCE" help:"http:// or https:// URLs to stage."`
	Name      string   `placeholder:"NAME" help:"Name of the file in the tree ('/' places it in a folder); only with one SOURCE. Default: the origin's Content-Disposition filename, else the URL's last path segment."`
	Header    []string `sep:"none" placeholder:"'NAME: VALUE'" help:"Request header sent to the origin, e.g. 'Authorization: Bearer …' or 'Cookie: …' (repeatable; never shown; kept in the server's 0600 state file unless it runs with --persist=false)."`
	Folder    bool     `help:"Each SOURCE is a folder's index page (an autoindex or any page of links): stage every file it links under it, as one folder named by --name or the URL's last segment. Again on a staged folder: refresh it from its index."`
	Depth     *int     `placeholder:"N" help:"With --folder: how many levels of sub-folders to follow (default 8; 0: the page's own links only)."`
	AfterRead string   `name:"after-read" enum:",keep,evict,unstage" default:"" placeholder:"keep|evict|unstage" help:"What the server does once every byte has been read and the last handle closed: keep, evict (drop the downloaded bytes) or unstage. Default: the server's --after-read."`
	clientFlags
}

func (c *stageCmd) Run() error {
	if c.Name != "" && len(c.Sources) > 1 {
		return usageError(fmt.Errorf("--name names one file, but %d SOURCEs were given: stage them one at a time", len(c.Sources)))
	}
	// The rule the server applies, checked before it could tidy the name
	// ("../x" into "x", "a//b" into "a/b") into one the user did not give.
	if c.Name != "" {
		name := c.Name
		if c.Folder {
			name = strings.TrimSuffix(name, "/") // a folder may be written as one
		}
		if err := vfs.CheckName(name); err != nil {
			return usageError(fmt.Errorf("--name: %w", err))
		}
	}
	if c.Depth != nil && !c.Folder {
		return usageError(fmt.Errorf("--depth is for folders: pass --folder too"))
	}
	headers, err := parseHeaders(c.Header)
	if err != nil {
		return usageError(err)
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Probes run a few at a time; results print in the order given.
	results := make([]chan stageResult, len(c.Sources))
	answered := make([]atomic.Bool, len(c.Sources))
	sem := make(chan struct{}, stageConcurrency)
	for i, src := range c.Sources {
		results[i] = make(chan stageResult, 1)
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var r stageResult
			req := api.StageRequest{URL: src, Name: c.Name, Headers: headers, Folder: c.Folder, Depth: c.Depth, AfterRead: c.AfterRead}
			r.err = cl.do(ctx, http.MethodPost, api.PathFiles, req, &r.file)
			answered[i].Store(true)
			results[i] <- r
		}()
	}
	if !c.Folder {
		noticeCtx, endNotice := context.WithCancel(ctx)
		defer endNotice()
		go cl.noticeWhole(noticeCtx, c.Sources, c.Name, answered, os.Stderr)
	}
	b := batch{total: len(c.Sources), what: "sources not staged"}
	for i, src := range c.Sources {
		r := <-results[i]
		shown := redact.URL(src)
		if ctx.Err() != nil {
			return fmt.Errorf("stage %s: interrupted; %s", shown, cl.afterInterrupt(src, c.Name))
		}
		var ae *apiError
		if r.err != nil && !errors.As(r.err, &ae) {
			return r.err // no server, or not fsm: the other sources fail alike
		}
		if r.err != nil {
			ae.message += stageHint(ae.code, c.Name != "")
			b.fail(opError("stage", shown, r.err))
			continue
		}
		fmt.Println(stagedLine(r.file))
	}
	return b.result()
}

// interruptCheck bounds asking the server what became of an interrupted
// staging: the user has pressed Ctrl-C and waits for the prompt.
const interruptCheck = 3 * time.Second

// afterInterrupt says what the server did with a staging whose request
// Ctrl-C cut. The server ends a staging when its request goes away, unless
// it had finished: the list tells which, by name when one was given, else
// by the source URL as the server lists it (without its query).
func (cl *apiClient) afterInterrupt(src, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), interruptCheck)
	defer cancel()
	var files []fileInfo
	if err := cl.do(ctx, http.MethodGet, api.PathFiles, nil, &files); err != nil {
		return "the server ends a staging whose request is cut, unless it had finished (see fsm ls)"
	}
	for _, f := range files {
		if f.State == "probing" || f.State == "failed" || f.Size == nil {
			continue // being ended (a source of unknown size too), or another request's failure
		}
		if stagingOf(f, src, name) {
			return fmt.Sprintf("the server had staged it already as %s (fsm unstage %s removes it)", f.Name, shellQuote(f.Name))
		}
	}
	return "the server stopped staging it; nothing was added"
}

// stagingOf reports whether f is what staging src (as name, if given)
// lists: by name when one was given, else by the source URL as the server
// lists it (without its query).
func stagingOf(f fileInfo, src, name string) bool {
	if name != "" {
		return f.Name == vfs.Clean(name)
	}
	return f.URL == redact.Bare(src)
}

// noticeEvery is how long a staging runs before the CLI asks the server
// why, and how often it asks again.
const noticeEvery = 2 * time.Second

// noticeWhole says once, for each source still waiting for its answer,
// when the server is downloading it whole because the origin does not tell
// its size: that can take as long as the download, and the user should not
// take the wait for a hang. It returns when ctx ends or every source has
// its answer.
func (cl *apiClient) noticeWhole(ctx context.Context, sources []string, name string, answered []atomic.Bool, w io.Writer) {
	told := make([]bool, len(sources))
	tick := time.NewTicker(noticeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var files []fileInfo
		if err := cl.do(ctx, http.MethodGet, api.PathFiles, nil, &files); err != nil {
			continue // the answer to the staging will say what is wrong
		}
		waiting := false
		for i, src := range sources {
			if answered[i].Load() {
				continue
			}
			waiting = true
			if told[i] {
				continue
			}
			for _, f := range files {
				if f.State != "downloading" || f.Size != nil || !stagingOf(f, src, name) {
					continue
				}
				told[i] = true
				fmt.Fprintf(w, "fsm: %s: the origin does not tell its size, so the server downloads it whole before staging it (%s so far); fsm ls shows the progress\n",
					safetext.Line(f.Name), humanize.Bytes(uint64(max(f.Downloaded, 0))))
				break
			}
		}
		if !waiting {
			return
		}
	}
}

// stageHint is what the CLI adds to a refusal whose code it knows: the
// server speaks of names, the CLI knows its own flags.
func stageHint(code api.Code, named bool) string {
	switch {
	case code == api.CodeNoName && !named:
		return " (pass --name NAME)"
	case code == api.CodeNameTaken && named:
		return " (unstage it with fsm unstage, or pass another --name NAME)"
	case code == api.CodeNameTaken:
		return " (unstage it with fsm unstage, or pass --name NAME)"
	}
	return ""
}

// stageConcurrency bounds the staging requests in flight: each waits for
// its origin's answer, and a long list should not flood one origin.
const stageConcurrency = 4

type stageResult struct {
	file fileInfo
	err  error
}

func stagedLine(f fileInfo) string {
	if f.Folder {
		return folderLine(f)
	}
	s := "staged " + f.Name
	if f.Size != nil {
		s += " (" + humanize.Bytes(uint64(*f.Size)) + ")"
	}
	if len(f.Paths) > 0 {
		s += ": " + pathsCell(f) // quoted as fsm ls quotes them, so several stay apart
	}
	return s
}

// parseHeaders reads --header values. A malformed one is described without
// echoing it: it may hold a secret.
func parseHeaders(hs []string) (map[string]string, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(hs))
	for i, h := range hs {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !httpguts.ValidHeaderFieldName(name) {
			return nil, fmt.Errorf("--header #%d: want 'Name: value' with a header name before the ':'", i+1)
		}
		// The server's own rule (control's requestHeader), so the CLI
		// refuses here, before sending any secret, what fsm would refuse.
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, fmt.Errorf("--header %s: the value holds characters a header cannot carry (CR, LF, NUL or another control character but tab)", name)
		}
		key := http.CanonicalHeaderKey(name)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("--header %s given twice: give it once", key)
		}
		out[key] = value
	}
	return out, nil
}

// folderLine is what staging a folder prints: its files are probed in the
// background after the answer, so most are still probing.
func folderLine(f fileInfo) string {
	probing := 0
	for _, e := range f.Entries {
		if e.State == "probing" {
			probing++
		}
	}
	s := fmt.Sprintf("staged folder %s: %s", f.Name, countNoun(f.Files, "file"))
	if probing > 0 {
		s += fmt.Sprintf(", %d being probed (fsm ls shows them as they come)", probing)
	}
	if f.Failed > 0 {
		s += fmt.Sprintf(", %d failed (fsm ls says why)", f.Failed)
	}
	if len(f.Paths) > 0 {
		s += ": " + strings.Join(f.Paths, " ")
	}
	return s
}

// countNoun is "1 file", "2 files".
func countNoun(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
