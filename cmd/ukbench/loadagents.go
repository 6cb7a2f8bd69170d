package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/ukbench/ukbench/agent"
	"github.com/ukbench/ukbench/internal/cpuset"
	"github.com/ukbench/ukbench/loadgen"
)

// agentFlags are load's flags for making the load on agents over SSH.
type agentFlags struct {
	agents    stringList
	cpus, dir string
}

func (f *agentFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.agents, "agent", "make the load on this host over SSH (user@host or an ~/.ssh/config alias; repeatable: the rate is split between them)")
	fs.StringVar(&f.cpus, "agent-cpus", "", "CPU list the agents run on, such as 0-3 (default: all)")
	fs.StringVar(&f.dir, "agent-dir", agent.DefaultRemoteDir, "where the ukbench binary goes on the agents' hosts, relative to the login directory")
}

func (f *agentFlags) check() error {
	if _, err := cpuset.Parse(f.cpus); err != nil {
		return usageError("--agent-cpus: %v", err)
	}
	return nil
}

// generator starts the agents and returns their merged generator, or
// local when no agent is named. close ends the agents.
func (f *agentFlags) generator(ctx context.Context, local loadgen.Generator, cfg agent.Config) (gen loadgen.Generator, close func() error, err error) {
	if len(f.agents) == 0 {
		return local, func() error { return nil }, nil
	}
	opt := agent.DefaultSSHOptions()
	opt.CPUs, opt.RemoteDir = f.cpus, f.dir
	for _, dest := range f.agents {
		l, err := agent.NewSSHLauncher(dest, opt)
		if err != nil {
			return nil, nil, usageError("--agent %s: %v", dest, err)
		}
		cfg.Agents = append(cfg.Agents, agent.Spec{Name: dest, Launcher: l, CPUs: f.cpus})
	}
	r, err := agent.New(ctx, cfg)
	if err != nil {
		if errors.Is(err, agent.ErrConfig) {
			return nil, nil, usage(err)
		}
		return nil, nil, fmt.Errorf("agents: %w", err)
	}
	return r, r.Close, nil
}
