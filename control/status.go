package control

import (
	"context"
	"errors"
	"io/fs"
	"net/http"

	"fsm/store"
	"fsm/vfs"
)

// stageStatus is the HTTP status for an error of staging or unstaging.
func stageStatus(err error) int {
	var se *store.StatusError
	switch {
	case errors.Is(err, fs.ErrInvalid), errors.Is(err, store.ErrBadURL):
		return http.StatusBadRequest
	case errors.Is(err, fs.ErrExist), errors.Is(err, vfs.ErrBusy):
		return http.StatusConflict
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, store.ErrNoSpace):
		return http.StatusInsufficientStorage
	case errors.Is(err, store.ErrNoAnswer), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.As(err, &se):
		return http.StatusBadGateway
	}
	return http.StatusBadGateway
}
