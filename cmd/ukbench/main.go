// Command ukbench measures how unikernels and Linux guests serve network
// load. main only wires the process to run, which holds the logic.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ukbench:", err)
	}
	os.Exit(exitCode(err))
}
