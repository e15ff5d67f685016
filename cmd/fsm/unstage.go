package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"fsm/control/api"
	"fsm/vfs"
)

type unstageCmd struct {
	Names     []string `arg:"" name:"NAME" help:"Names of staged files, as fsm ls shows them."`
	Recursive bool     `short:"r" help:"A NAME that is a staged folder is removed with everything in it."`
	clientFlags
}

func (c *unstageCmd) Run() error {
	return perName(&c.clientFlags, "unstage", "names not unstaged", c.Names, func(ctx context.Context, cl *apiClient, name string) error {
		endpoint := api.FilePath(name)
		if c.Recursive {
			endpoint += "?recursive=true"
		}
		err := cl.do(ctx, http.MethodDelete, endpoint, nil, nil)
		var ae *apiError
		if errors.As(err, &ae) && ae.code == api.CodeIsFolder {
			ae.message += fmt.Sprintf(" (fsm unstage -r %s removes it and everything in it)", name)
		}
		if err != nil {
			return err
		}
		// The server tidies the name as every path ("a/b/" is a/b):
		// echo the name it removed.
		fmt.Println("unstaged", vfs.Clean(name))
		return nil
	})
}
