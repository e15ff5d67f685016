package answer_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"fsm/control/api"
	"fsm/index"
	"fsm/internal/answer"
	"fsm/internal/fsmtest"
	"fsm/store"
	"fsm/vfs"
)

// TestFor: every sentinel, wrapped as the store and the tree wrap it, has
// one status and one code; the message is one line that keeps what the
// error names (the file once), except a shutdown's, which says only that.
func TestFor(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   api.Code
		says   string
		names  int // how often the message names the file
	}{
		{fmt.Errorf("read a.bin at 0: %w", store.ErrChanged), http.StatusBadGateway, api.CodeChanged, "stage it again", 1},
		{fmt.Errorf("read a.bin at 0: %w", store.ErrNoSpace), http.StatusInsufficientStorage, api.CodeNoSpace, "cache disk is full", 1},
		{fmt.Errorf("read a.bin at 0: %w", store.ErrClosed), http.StatusServiceUnavailable, api.CodeClosed, "shutting down", 0},
		{fmt.Errorf("read a.bin at 0: %w", &store.StatusError{Code: 404, Status: "404 Not Found"}), http.StatusBadGateway, api.CodeOriginRefused, "404 Not Found", 1},
		// 504 since both frontends agree: the API said so, WebDAV said 502.
		{fmt.Errorf("read a.bin at 0: %w", store.ErrNoAnswer), http.StatusGatewayTimeout, api.CodeOriginSilent, "did not answer", 1},
		{fmt.Errorf("probe a.bin: %w", context.DeadlineExceeded), http.StatusGatewayTimeout, api.CodeOriginSilent, "deadline", 1},
		{fmt.Errorf("%w ftp://h/a.bin: only http", store.ErrBadURL), http.StatusBadRequest, api.CodeBadURL, "only http", 1},
		{fmt.Errorf("%w; give a name", vfs.ErrNoName), http.StatusBadRequest, api.CodeNoName, "give a name", 0},
		{fmt.Errorf("%w %q: control character", vfs.ErrBadName, "a.bin"), http.StatusBadRequest, api.CodeBadName, "control character", 1},
		{fmt.Errorf("%w: %q is already staged", vfs.ErrNameTaken, "a.bin"), http.StatusConflict, api.CodeNameTaken, "already staged", 1},
		{fmt.Errorf("unstage a.bin: not staged: %w", fs.ErrNotExist), http.StatusNotFound, api.CodeNotFound, "not staged", 1},
		{fmt.Errorf("read a.bin at 0:\n%w", errors.New("tls: bad certificate")), http.StatusBadGateway, api.CodeOriginFailed, "bad certificate", 1},
	} {
		got := answer.For(c.err)
		if got.Status != c.status || got.Code != c.code || !strings.Contains(got.Message, c.says) ||
			strings.Count(got.Message, "a.bin") != c.names || strings.Contains(got.Message, "\n") {
			t.Errorf("For(%q) = %d %s %q; want %d %s, one line saying %q and naming the file %d times",
				c.err, got.Status, got.Code, got.Message, c.status, c.code, c.says, c.names)
		}
	}
}

// sentinelCodes are the status and code each sentinel's answer has, as
// the docs' table lists them.
var sentinelCodes = []struct {
	err    error
	status string
	code   api.Code
}{
	{&store.StatusError{Code: 404}, "502", api.CodeOriginRefused},
	{store.ErrNoAnswer, "504", api.CodeOriginSilent},
	{errors.New("tls: bad certificate"), "502", api.CodeOriginFailed},
	{store.ErrChanged, "502", api.CodeChanged},
	{store.ErrNoSpace, "507", api.CodeNoSpace},
	{store.ErrClosed, "503", api.CodeClosed},
	{fs.ErrNotExist, "404", api.CodeNotFound},
	{store.ErrBadURL, "400", api.CodeBadURL},
	{vfs.ErrBadName, "400", api.CodeBadName},
	{vfs.ErrNoName, "400", api.CodeNoName},
	{vfs.ErrNameTaken, "409", api.CodeNameTaken},
	{fmt.Errorf("unstage pub: %w of 3 files", vfs.ErrIsFolder), "409", api.CodeIsFolder},
	{&index.PageError{URL: "http://h/pub/", Err: index.ErrNotHTML}, "400", api.CodeNotIndex},
	{&index.PageError{URL: "http://h/pub/", Err: index.ErrNoLinks}, "400", api.CodeNotIndex},
	{vfs.ErrTooMany, "507", api.CodeTooMany},
}

func TestSentinelCodes(t *testing.T) {
	for _, c := range sentinelCodes {
		got := answer.For(c.err)
		if strconv.Itoa(got.Status) != c.status || got.Code != c.code {
			t.Errorf("For(%v) = %d %s, the docs say %s %s", c.err, got.Status, got.Code, c.status, c.code)
		}
	}
}

// TestForClosedFromEitherLayer: a shutdown the tree noticed and one the
// store noticed are the same answer.
func TestForClosedFromEitherLayer(t *testing.T) {
	fsys, _ := fsmtest.Tree(t, store.Options{})
	fsys.Close()
	_, err := fsys.Stage(context.Background(), vfs.Request{URL: "http://127.0.0.1:1/a.bin", Name: "a.bin"})
	if err == nil {
		t.Fatal("stage after Close succeeded")
	}
	if got, want := answer.For(err), answer.For(store.ErrClosed); got != want {
		t.Errorf("the tree's shutdown answers %+v, the store's %+v", got, want)
	}
}

func TestStalled(t *testing.T) {
	got := answer.Stalled("no bytes of a.bin arrived\nfor 1s")
	if got.Status != http.StatusGatewayTimeout || got.Code != api.CodeOriginSilent || got.Message != "no bytes of a.bin arrived for 1s" {
		t.Errorf("Stalled = %+v", got)
	}
}
