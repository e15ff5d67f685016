//go:build linux

package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"fsm/control/api"
)

// apiFile is the control API's file object (docs/API.md).
type apiFile = api.File

// stageTimeout bounds how long a source given to `fsm serve` may stay in
// its probe; many thousands of them share one origin.
const stageTimeout = 2 * time.Minute

// apiURL is the URL of an API endpoint of the server at base (which ends
// in "/").
func apiURL(base, endpoint string) string {
	return strings.TrimSuffix(base, "/") + api.Base + endpoint
}

// apiFileURL is the URL of the file object of name.
func apiFileURL(base, name string) string { return apiURL(base, api.FilePath(name)) }

// getJSON GETs u and decodes a 200 answer into v.
func getJSON(ctx context.Context, u string, v any) error {
	client, done := newClient()
	defer done()
	return getJSONWith(ctx, client, u, v)
}

// waitStaged polls the control API until name has left "probing": `fsm
// serve URL` answers HTTP at once and stages its sources in the background,
// so a GET before that would time the probe too (or find no file). A
// "failed" source is a harness error with fsm's reason.
func waitStaged(ctx context.Context, c *child, base, name string) (apiFile, error) {
	ctx, cancel := context.WithTimeout(ctx, stageTimeout)
	defer cancel()
	u := apiFileURL(base, name)
	var last error
	for {
		if c.exited() {
			return apiFile{}, c.diedError()
		}
		var f apiFile
		err := getJSON(ctx, u, &f)
		switch {
		case err != nil:
			last = err // 404 until the probe has put the name in the tree
		case f.State == "failed":
			return f, fmt.Errorf("%s: staging %s failed: %s", c.name, name, f.Error)
		case f.State != "probing" && f.State != "":
			return f, nil
		default:
			last = fmt.Errorf("%s still %s", name, f.State)
		}
		if werr := sleepCtx(ctx, 20*time.Millisecond); werr != nil {
			return apiFile{}, fmt.Errorf("%s: %s not staged within %v (last: %v); last output:\n%s",
				c.name, name, stageTimeout, last, c.logTail(15))
		}
	}
}

// listFiles returns every file the control API lists.
func listFiles(ctx context.Context, base string) ([]apiFile, error) {
	var fs []apiFile
	err := getJSON(ctx, apiURL(base, api.PathFiles), &fs)
	return fs, err
}
