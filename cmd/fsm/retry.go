package main

import (
	"context"
	"fmt"
	"net/http"

	"fsm/control/api"
)

type retryCmd struct {
	Names []string `arg:"" name:"NAME" help:"Names of files in error or failed, as fsm ls shows them."`
	clientFlags
}

func (c *retryCmd) Run() error {
	return perName(&c.clientFlags, "retry", "names not retried", c.Names, func(ctx context.Context, cl *apiClient, name string) error {
		var f fileInfo
		if err := cl.do(ctx, http.MethodPost, api.FilePath(name)+api.PathRetry, nil, &f); err != nil {
			return err
		}
		fmt.Println("retrying", f.Name+":", f.State)
		return nil
	})
}
