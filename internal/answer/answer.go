// Package answer owns one rule for both of fsm's HTTP frontends: which
// status, stable code and one-line message an error of the store or the
// tree becomes. The control API sends it as {"error", "code"}, WebDAV as a
// plain-text line; either way a client sees the same status for the same
// failure (the table in docs/API.md and docs/WEBDAV.md).
package answer

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strings"

	"fsm/control/api"
	"fsm/index"
	"fsm/store"
	"fsm/vfs"
)

// Answer is what a client is told about an error.
type Answer struct {
	Status  int
	Code    api.Code
	Message string // one line; names what the error names, secrets removed by the store
}

// closedMessage replaces whatever a shutdown's error says: the client needs
// to know only that fsm is going away, not which layer noticed first.
const closedMessage = "fsm is shutting down"

// For maps err. The order matters where one error matches several kinds: a
// shutdown or a full disk is reported as such whatever else it wraps, and
// the name sentinels are tested before the fs kinds they also match.
func For(err error) Answer {
	a := Answer{Message: OneLine(err.Error())}
	var se *store.StatusError
	switch {
	case errors.Is(err, store.ErrClosed):
		a.Status, a.Code, a.Message = http.StatusServiceUnavailable, api.CodeClosed, closedMessage
	case errors.Is(err, store.ErrNoSpace):
		a.Status, a.Code = http.StatusInsufficientStorage, api.CodeNoSpace
	case errors.Is(err, vfs.ErrTooMany):
		// 507 like a full disk: fsm cannot hold more, and unstaging makes
		// room; nothing about the name or the request conflicts (409).
		a.Status, a.Code = http.StatusInsufficientStorage, api.CodeTooMany
	case errors.Is(err, store.ErrChanged):
		// 502, not 409 or 412: nothing in the request was wrong, the
		// origin no longer has the version that was staged.
		a.Status, a.Code = http.StatusBadGateway, api.CodeChanged
	case errors.Is(err, store.ErrBadURL):
		a.Status, a.Code = http.StatusBadRequest, api.CodeBadURL
	case errors.Is(err, vfs.ErrIsFolder):
		a.Status, a.Code = http.StatusConflict, api.CodeIsFolder
	case errors.Is(err, index.ErrNotHTML), errors.Is(err, index.ErrNoLinks):
		// The URL names no folder: the request's mistake, not the origin's.
		a.Status, a.Code = http.StatusBadRequest, api.CodeNotIndex
	case errors.Is(err, vfs.ErrNoName):
		a.Status, a.Code = http.StatusBadRequest, api.CodeNoName
	case errors.Is(err, fs.ErrInvalid): // vfs.ErrBadName among them
		a.Status, a.Code = http.StatusBadRequest, api.CodeBadName
	case errors.Is(err, vfs.ErrNotFailing):
		a.Status, a.Code = http.StatusConflict, api.CodeNotFailing
	case errors.Is(err, vfs.ErrUnstaged):
		a.Status, a.Code = http.StatusConflict, api.CodeUnstaged
	case errors.Is(err, fs.ErrExist): // vfs.ErrNameTaken among them
		a.Status, a.Code = http.StatusConflict, api.CodeNameTaken
	case errors.Is(err, fs.ErrNotExist):
		a.Status, a.Code = http.StatusNotFound, api.CodeNotFound
	case errors.Is(err, store.ErrNoAnswer), errors.Is(err, context.DeadlineExceeded):
		a.Status, a.Code = http.StatusGatewayTimeout, api.CodeOriginSilent
	case errors.As(err, &se):
		a.Status, a.Code = http.StatusBadGateway, api.CodeOriginRefused
	default:
		a.Status, a.Code = http.StatusBadGateway, api.CodeOriginFailed
	}
	return a
}

// OneLine joins s's lines and runs of white space into single spaces.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Stalled is the answer to a read that got no byte from the origin for the
// frontend's stall bound: a silent origin, told in the frontend's own words
// (why), since no error value carries them.
func Stalled(why string) Answer {
	a := For(store.ErrNoAnswer)
	a.Message = OneLine(why)
	return a
}
