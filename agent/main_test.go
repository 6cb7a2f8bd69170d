package agent

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// TestMain makes the test binary an agent when run as `BINARY agent
// [--cpus LIST]` (by the test SSH server, as the coordinator would run
// ukbench), so the SSH tests run real agent processes.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		opt := ServeOptions{}
		if len(os.Args) > 3 && os.Args[2] == "--cpus" {
			opt.CPUs = os.Args[3]
		}
		if v := os.Getenv("UKBENCH_TEST_AGENT_VERSION"); v != "" {
			fmt.Sscan(v, &opt.Version)
		}
		if err := Serve(context.Background(), os.Stdin, os.Stdout, opt); err != nil {
			fmt.Fprintln(os.Stderr, "agent:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
