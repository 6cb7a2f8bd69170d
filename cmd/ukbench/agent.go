package main

import (
	"context"
	"io"
	"os"

	"github.com/ukbench/ukbench/agent"
)

const agentUsage = `Usage: ukbench agent [--cpus LIST]

Makes load for a coordinator (ukbench load --agent, or an experiment's
load.agents), which starts it over SSH: speaks the agent protocol on stdin
and stdout and exits when stdin closes. Not for use by hand.
`

// agentStdin is the agent's protocol input (tests replace it).
var agentStdin io.Reader = os.Stdin

func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("agent", agentUsage, stderr)
	cpus := fs.String("cpus", "", "CPU list to run on, such as 0-3 (default: all this process may use)")
	positional, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageError("agent: unexpected argument %q", positional[0])
	}
	return agent.Serve(ctx, agentStdin, stdout, agent.ServeOptions{CPUs: *cpus})
}
