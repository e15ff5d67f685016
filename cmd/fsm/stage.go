package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dustin/go-humanize"

	"fsm/control/api"
	"fsm/internal/redact"
)

type stageCmd struct {
	Sources []string `arg:"" name:"SOURCE" help:"http:// or https:// URLs to stage."`
	Name    string   `placeholder:"NAME" help:"Name of the file in the tree ('/' places it in a folder); only with one SOURCE. Default: the URL's last path segment."`
	Header  []string `sep:"none" placeholder:"'NAME: VALUE'" help:"Request header sent to the origin, e.g. 'Authorization: Bearer …' or 'Cookie: …' (repeatable; held in the server's memory only, never shown)."`
	clientFlags
}

func (c *stageCmd) Run() error {
	if c.Name != "" && len(c.Sources) > 1 {
		return &exitError{2, fmt.Errorf("--name names one file, but %d SOURCEs were given: stage them one at a time", len(c.Sources))}
	}
	headers, err := parseHeaders(c.Header)
	if err != nil {
		return &exitError{2, err}
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
			r.err = cl.do(ctx, http.MethodPost, api.PathFiles, api.StageRequest{URL: localSource(src), Name: c.Name, Headers: headers}, &r.file)
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
	s := "staged " + f.Name
	if f.Size != nil {
		s += " (" + humanize.Bytes(uint64(*f.Size)) + ")"
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
		if !ok || !validHeaderName(name) {
			return nil, fmt.Errorf("--header #%d: want 'Name: value' with a header name before the ':'", i+1)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, fmt.Errorf("--header %s: the value holds characters a header cannot carry", name)
		}
		key := http.CanonicalHeaderKey(name)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("--header %s given twice: give it once", key)
		}
		out[key] = value
	}
	return out, nil
}

// localSource makes a SOURCE that names an existing local file absolute:
// the server resolves paths from its own working directory, not ours.
func localSource(src string) string {
	if strings.Contains(src, "://") {
		return src
	}
	if _, err := os.Stat(src); err != nil {
		return src
	}
	if abs, err := filepath.Abs(src); err == nil {
		return abs
	}
	return src
}

// validHeaderName reports whether name is an HTTP token (RFC 9110 5.1).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
