package awake_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"fsm/awake"
)

// A server keeps one Keeper for its life: each transfer holds it while it
// runs, and the control API shows Status.
func ExampleKeeper() {
	k := awake.New(awake.Options{Logger: slog.Default()})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = k.Close(ctx)
	}()

	release := k.Hold() // a download starts
	// ... the download runs; sleep is prevented ...
	release() // it ends; sleep is allowed again after the grace period

	if s := k.Status(); s.Active {
		fmt.Println("keeping the computer awake:", s.Reason) // "1 transfer"
	}
}
