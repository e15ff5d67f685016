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

type unstageCmd struct {
	Names     []string `arg:"" name:"NAME" help:"Names of staged files, as fsm ls shows them."`
	Recursive bool     `short:"r" help:"A NAME that is a staged folder is removed with everything in it."`
	clientFlags
}

func (c *unstageCmd) Run() error {
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
	b := batch{total: len(c.Names), what: "names not unstaged"}
	for _, name := range c.Names {
		endpoint := api.FilePath(name)
		if c.Recursive {
			endpoint += "?recursive=true"
		}
		err := cl.do(ctx, http.MethodDelete, endpoint, nil, nil)
		var ae *apiError
		if err != nil && !errors.As(err, &ae) {
			return err
		}
		if err != nil {
			if ae.code == api.CodeIsFolder {
				ae.message += fmt.Sprintf(" (fsm unstage -r %s removes it and everything in it)", name)
			}
			b.fail(opError("unstage", name, err))
			continue
		}
		fmt.Println("unstaged", name)
	}
	return b.result()
}
