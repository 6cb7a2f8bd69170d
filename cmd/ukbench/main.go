// Command ukbench measures how unikernels and Linux guests serve network
// load. main only wires the process to run, which holds the logic.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ukbench/ukbench/targets/guestinit"
)

func main() {
	// In a Linux guest ukbench builds, the kernel runs ukbench as /init.
	if os.Getpid() == 1 && filepath.Base(os.Args[0]) == "init" {
		guestinit.Main(os.Stdout)
	}
	var notice io.Writer
	if isTerminal(os.Stderr) {
		notice = os.Stderr
	}
	ctx, stop := stopOnSignals(context.Background(), notice, os.Stderr, os.Exit)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ukbench:", err)
	}
	os.Exit(exitCode(err))
}
