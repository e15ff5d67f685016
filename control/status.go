package control

import (
	"context"
	"errors"
	"io/fs"
	"net/http"

	"fsm/vfs"
)

// stageStatus is the HTTP status for an error of staging or unstaging.
func stageStatus(err error) int {
	switch {
	case errors.Is(err, fs.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, fs.ErrExist), errors.Is(err, vfs.ErrBusy):
		return http.StatusConflict
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}
