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

	"fsm/control/api"
)

type retryCmd struct {
	Names []string `arg:"" name:"NAME" help:"Names of files in error or failed, as fsm ls shows them."`
	clientFlags
}

func (c *retryCmd) Run() error {
	for _, name := range c.Names {
		if strings.Trim(name, "/") == "" {
			return usageError(fmt.Errorf("NAME %q names no file: give a name as fsm ls shows it", name))
		}
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := batch{total: len(c.Names), what: "names not retried"}
	for _, name := range c.Names {
		var f fileInfo
		err := cl.do(ctx, http.MethodPost, api.FilePath(name)+api.PathRetry, nil, &f)
		var ae *apiError
		if err != nil && !errors.As(err, &ae) {
			return err
		}
		if err != nil {
			b.fail(opError("retry", name, err))
			continue
		}
		fmt.Println("retrying", f.Name+":", f.State)
	}
	return b.result()
}

// stateCell is a file's STATE: its state, or "retrying" while its fetches
// fail and are retried (the state alone says downloading then).
func stateCell(f fileInfo) string {
	if f.Retrying != nil {
		return "retrying"
	}
	return f.State
}
