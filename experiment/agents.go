package experiment

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ukbench/ukbench/agent"
	"github.com/ukbench/ukbench/internal/cpuset"
	"github.com/ukbench/ukbench/internal/fielderr"
	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/targets"
	"github.com/ukbench/ukbench/vm"
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

// validate checks the agents as far as can be done without reaching
// them, and that the targets of c can be reached from the agents' hosts:
// agents load the address the coordinator reaches a target at, which is
// 127.0.0.1 for native targets and for guests on QEMU's user network, so
// load.agents wants every target a guest on vm.network tap with a
// routable vm.guest_ip.
func (l *LoadConfig) validate(c *Config) error {
	if len(l.Agents) == 0 {
		return nil
	}
	roles := make([]string, len(l.Agents))
	for i, a := range l.Agents {
		field := func(err error, name string) error {
			return fielderr.In(err, "load", "agents", fielderr.Index(i), name)
		}
		if a.SSH == "" {
			return field(errors.New("want user@host or an ~/.ssh/config alias"), "ssh")
		}
		if err := agent.CheckWeight(a.Weight); err != nil {
			return field(err, "weight")
		}
		if err := agent.CheckRole(a.Role); err != nil {
			return field(err, "role")
		}
		if _, err := cpuset.Parse(a.CPUs); err != nil {
			return field(err, "cpus")
		}
		roles[i] = a.Role
	}
	if err := agent.CheckRoles(roles); err != nil {
		return fielderr.In(err, "load", "agents")
	}
	for i, t := range c.Targets {
		if t.Kind == targets.KindNative {
			return fielderr.In(fmt.Errorf("target %q is native: it listens on 127.0.0.1, which load.agents on other hosts cannot reach (agents need guest targets on vm.network tap)", t.Label()), "targets", fielderr.Index(i), "kind")
		}
	}
	if c.VM.Network != vm.NetTap {
		return fielderr.In(fmt.Errorf("%q: load.agents need vm.network tap with a routable vm.guest_ip: under user networking the guests are reached at 127.0.0.1 forwards, the agents' own loopback on their hosts", c.VM.WithDefaults().Network), "vm", "network")
	}
	if ip, err := netip.ParsePrefix(c.VM.GuestIP); err == nil {
		if a := ip.Addr(); a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
			return fielderr.In(fmt.Errorf("%s: load.agents need a guest address routable from their hosts", c.VM.GuestIP), "vm", "guest_ip")
		}
	}
	return nil
}

// withAgents returns local's load made on the configured agents instead,
// or local itself when there are none; close ends the agents.
// Each agent probes its host's timers for timerProbe (0: not) as it starts.
func withAgents(ctx context.Context, l *LoadConfig, w Workload, addr string, timerProbe time.Duration, local loadgen.Generator) (gen loadgen.Generator, close func() error, err error) {
	if !l.hasAgents() {
		return local, func() error { return nil }, nil
	}
	cfg := agent.Config{TimerProbe: timerProbe}
	if cfg.DNS, cfg.HTTP, err = generatorConfigs(w, addr); err != nil {
		return nil, nil, err
	}
	for i, a := range l.Agents {
		opt := agent.DefaultSSHOptions()
		opt.CPUs, opt.RemoteDir = a.CPUs, a.Dir
		launcher, err := agent.NewSSHLauncher(a.SSH, opt)
		if err != nil {
			return nil, nil, fielderr.In(fmt.Errorf("%s: %w", a.SSH, err), "load", "agents", fielderr.Index(i), "ssh")
		}
		cfg.Agents = append(cfg.Agents, agent.Spec{Name: a.SSH, Launcher: launcher, Weight: a.Weight, Role: a.Role, CPUs: a.CPUs})
	}
	r, err := agent.New(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return r, r.Close, nil
}

// hasAgents says whether the load comes from agents (the coordinator's own
// CPUs then make none of it).
func (l *LoadConfig) hasAgents() bool { return l != nil && len(l.Agents) > 0 }
