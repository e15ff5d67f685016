package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dustin/go-humanize"
	"golang.org/x/net/http/httpguts"

	"fsm/control/api"
	"fsm/internal/redact"
)

type stageCmd struct {
	Sources []string `arg:"" name:"SOURCE" help:"http:// or https:// URLs to stage."`
	Name    string   `placeholder:"NAME" help:"Name of the file in the tree ('/' places it in a folder); only with one SOURCE. Default: the origin's Content-Disposition filename, else the URL's last path segment."`
	Header  []string `sep:"none" placeholder:"'NAME: VALUE'" help:"Request header sent to the origin, e.g. 'Authorization: Bearer …' or 'Cookie: …' (repeatable; never shown; kept in the server's 0600 state file unless it runs with --persist=false)."`
	Folder  bool     `help:"Each SOURCE is a folder's index page (an autoindex or any page of links): stage every file it links under it, as one folder named by --name or the URL's last segment. Again on a staged folder: refresh it from its index."`
	Depth   *int     `placeholder:"N" help:"With --folder: how many levels of sub-folders to follow (default 8; 0: the page's own links only)."`
	clientFlags
}

func (c *stageCmd) Run() error {
	if c.Name != "" && len(c.Sources) > 1 {
		return usageError(fmt.Errorf("--name names one file, but %d SOURCEs were given: stage them one at a time", len(c.Sources)))
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
	sem := make(chan struct{}, stageConcurrency)
	for i, src := range c.Sources {
		results[i] = make(chan stageResult, 1)
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var r stageResult
			req := api.StageRequest{URL: src, Name: c.Name, Headers: headers, Folder: c.Folder, Depth: c.Depth}
			r.err = cl.do(ctx, http.MethodPost, api.PathFiles, req, &r.file)
			results[i] <- r
		}()
	}
	b := batch{total: len(c.Sources), what: "sources not staged"}
	for i, src := range c.Sources {
		r := <-results[i]
		shown := redact.URL(src)
		if ctx.Err() != nil {
			return fmt.Errorf("stage %s: interrupted (the server may still finish staging it; see fsm ls)", shown)
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
		s += " (" + humanize.IBytes(uint64(*f.Size)) + ")"
	}
	if len(f.Paths) > 0 {
		s += ": " + strings.Join(f.Paths, " ")
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
