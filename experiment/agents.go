package experiment

import (
	"context"
	"errors"
	"fmt"

	"github.com/ukbench/ukbench/agent"
	"github.com/ukbench/ukbench/internal/cpuset"
	"github.com/ukbench/ukbench/internal/fielderr"
	"github.com/ukbench/ukbench/loadgen"
)

// LoadConfig says where an experiment's load is made: here (the default,
// no agents) or on agents over SSH (issue 18).
type LoadConfig struct {
	Agents []AgentConfig `yaml:"agents" json:"agents,omitempty"`
}

// AgentConfig is one agent host: `ukbench agent` is started there over
// SSH for each run, with its share of every step's rate.
type AgentConfig struct {
	SSH    string `yaml:"ssh" json:"ssh"`                 // user@host, or an ~/.ssh/config alias
	CPUs   string `yaml:"cpus" json:"cpus,omitempty"`     // CPU list on that host, such as 0-3
	Weight int    `yaml:"weight" json:"weight,omitempty"` // share of the lanes; default 1
	Role   string `yaml:"role" json:"role,omitempty"`     // load (default) or probe
	Dir    string `yaml:"dir" json:"dir,omitempty"`       // where the binary goes; default agent.DefaultRemoteDir
}

// validate checks the agents as far as can be done without reaching them.
func (l *LoadConfig) validate() error {
	for i, a := range l.Agents {
		field := func(err error, name string) error {
			return fielderr.In(err, "load", "agents", fielderr.Index(i), name)
		}
		switch {
		case a.SSH == "":
			return field(errors.New("want user@host or an ~/.ssh/config alias"), "ssh")
		case a.Weight < 0:
			return field(fmt.Errorf("%d: want 1 or more (default 1)", a.Weight), "weight")
		case a.Role != "" && a.Role != agent.RoleLoad && a.Role != agent.RoleProbe:
			return field(fmt.Errorf("%q: want %q or %q", a.Role, agent.RoleLoad, agent.RoleProbe), "role")
		}
		if _, err := cpuset.Parse(a.CPUs); err != nil {
			return field(err, "cpus")
		}
	}
	return nil
}

// withAgents returns local's load made on the configured agents instead,
// or local itself when there are none; close ends the agents.
func withAgents(ctx context.Context, l *LoadConfig, w Workload, addr string, local loadgen.Generator) (gen loadgen.Generator, close func() error, err error) {
	if l == nil || len(l.Agents) == 0 {
		return local, func() error { return nil }, nil
	}
	var cfg agent.Config
	if cfg.DNS, cfg.HTTP, err = generatorConfigs(w, addr); err != nil {
		return nil, nil, err
	}
	for _, a := range l.Agents {
		opt := agent.DefaultSSHOptions()
		opt.CPUs, opt.RemoteDir = a.CPUs, a.Dir
		launcher, err := agent.NewSSHLauncher(a.SSH, opt)
		if err != nil {
			return nil, nil, fmt.Errorf("agent %s: %w", a.SSH, err)
		}
		cfg.Agents = append(cfg.Agents, agent.Spec{Name: a.SSH, Launcher: launcher, Weight: a.Weight, Role: a.Role, CPUs: a.CPUs})
	}
	r, err := agent.New(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return r, r.Close, nil
}
