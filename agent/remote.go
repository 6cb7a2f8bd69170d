package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
)

// Agent roles (Spec.Role).
const (
	// RoleLoad agents share the offered rate by weight.
	RoleLoad = "load"
	// RoleProbe agents each send DefaultProbeRate (Config.ProbeRate)
	// requests/s out of the offered rate, and the merged step's latency
	// is theirs alone, measured while the load agents add the rest (as
	// mutilate's master measures).
	RoleProbe = "probe"
)

// DefaultProbeRate is Config.ProbeRate when 0, in requests/s.
const DefaultProbeRate = 100

// ErrConfig is wrapped by every configuration error of a Remote.
var ErrConfig = errors.New("bad agent configuration")

// A Launcher starts one agent process (`ukbench agent`) and connects to
// its stdin and stdout. It may be called again after the agent was lost.
// Close releases what the launcher holds (an SSH connection); agents it
// launched have their own Conn closed first.
type Launcher interface {
	Launch(ctx context.Context) (Launched, error)
	Close() error
}

// Launched is a started agent.
type Launched struct {
	// Conn is the agent's stdin (Write, Close) and stdout (Read). Closing
	// it ends the agent.
	Conn io.ReadWriteCloser
	// SHA256 is the binary the launcher started, which the agent's hello
	// must report; "" checks nothing.
	SHA256 string
	// Copied says whether the binary was copied to the agent's host for
	// this launch.
	Copied bool
}

// Spec is one agent of a Remote.
type Spec struct {
	Name     string // as the records name it: user@host, an SSH alias
	Launcher Launcher
	// Weight is the agent's share of the load agents' lanes: it runs
	// Weight times the configured sockets or connections. Default 1.
	Weight int
	Role   string // RoleLoad (default, "") or RoleProbe
	CPUs   string // the CPU list it runs on, for the record ("" all)
}

// Config configures a Remote: the generator each agent runs (exactly one
// of DNS and HTTP; its Sockets or Connections are per weight unit of an
// agent) and the agents.
type Config struct {
	DNS    *loadgen.DNSConfig
	HTTP   *loadgen.HTTPConfig
	Agents []Spec
	// ProbeRate is each probe agent's rate, requests/s; default
	// DefaultProbeRate.
	ProbeRate float64
	// TimerProbe, when above 0, has each agent probe its host's timers
	// for this long as it starts (results.AgentInfo.TimerNoise): the
	// generator's CPUs are the agents', not the coordinator's.
	TimerProbe time.Duration
}

// Remote is a loadgen.Generator whose load comes from agents on other
// hosts. The rate is split by weight over the load agents' lanes, each
// lane carrying the same rate: DNS lanes are numbered globally
// (loadgen.LaneShare), so constant arrivals stay evenly spaced in the
// merged stream and Poisson lanes draw independent streams. Steps must not
// run concurrently; Close ends every agent.
type Remote struct {
	cfg    Config
	agents []*remoteAgent
	lanes  int // all load lanes
	limits loadgen.Limits
}

// remoteAgent is one agent and its current session (nil after a loss,
// until the next step launches it again).
type remoteAgent struct {
	Spec
	lanes, first int
	sess         *session
	info         results.AgentInfo
	load         results.LoadInfo
}

// New launches every agent, in turn, and prepares its generator. On error
// the agents already started are ended.
func New(ctx context.Context, cfg Config) (*Remote, error) {
	if (cfg.DNS == nil) == (cfg.HTTP == nil) {
		return nil, fmt.Errorf("%w: want exactly one of a DNS and an HTTP generator", ErrConfig)
	}
	if len(cfg.Agents) == 0 {
		return nil, fmt.Errorf("%w: no agent", ErrConfig)
	}
	if cfg.ProbeRate == 0 {
		cfg.ProbeRate = DefaultProbeRate
	}
	if !(cfg.ProbeRate > 0) || math.IsInf(cfg.ProbeRate, 0) {
		return nil, fmt.Errorf("%w: probe rate %v", ErrConfig, cfg.ProbeRate)
	}
	r := &Remote{cfg: cfg}
	per := r.perWeight()
	roles := make([]string, len(cfg.Agents))
	for i, s := range cfg.Agents {
		if err := CheckWeight(s.Weight); err != nil {
			return nil, fmt.Errorf("%w: agent %s: weight %w", ErrConfig, s.Name, err)
		}
		if err := CheckRole(s.Role); err != nil {
			return nil, fmt.Errorf("%w: agent %s: role %w", ErrConfig, s.Name, err)
		}
		roles[i] = s.Role
	}
	if err := CheckRoles(roles); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if cfg.HTTP != nil {
		if conns := r.connsPerWeight(); conns < per {
			return nil, fmt.Errorf("%w: connections %d: fewer than the %d threads (each thread needs one at least)", ErrConfig, conns, per)
		}
	}
	probeLanes := 0
	for _, s := range cfg.Agents {
		s.Weight = max(s.Weight, 1)
		if s.Role == "" {
			s.Role = RoleLoad
		}
		a := &remoteAgent{Spec: s, lanes: per}
		if s.Role == RoleLoad {
			a.lanes, a.first = per*s.Weight, r.lanes
			r.lanes += a.lanes
		} else {
			a.first = probeLanes // among the probes' lanes, numbered after the load's
			probeLanes += a.lanes
		}
		r.agents = append(r.agents, a)
	}
	if cfg.DNS != nil {
		r.limits = cfg.DNS.Limits
	} else {
		r.limits = cfg.HTTP.Limits
	}
	for _, a := range r.agents {
		if err := r.launch(ctx, a); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// perWeight is the lanes of one weight unit: the configured DNS sockets
// or HTTP threads, or the generator's default.
func (r *Remote) perWeight() int {
	n, def := 0, 0
	if r.cfg.DNS != nil {
		n, def = r.cfg.DNS.Sockets, loadgen.DefaultDNSSockets
	} else {
		conns := r.cfg.HTTP.Connections
		if conns == 0 {
			conns = loadgen.DefaultConnections
		}
		n, def = r.cfg.HTTP.Threads, loadgen.DefaultThreads(conns)
	}
	if n == 0 {
		return def
	}
	return n
}

// connsPerWeight is the HTTP connections of one weight unit: the
// configured connections, or the default. An agent of weight w runs w
// times these on w times the threads (perWeight), which its generator
// spreads over its threads, remainder and all.
func (r *Remote) connsPerWeight() int {
	if c := r.cfg.HTTP.Connections; c != 0 {
		return c
	}
	return loadgen.DefaultConnections
}

// seedStride is how loadgen's pacers derive a lane's Poisson seed from
// the generator's (NewPacer: seed + lane × seedStride).
const seedStride = 0x9e3779b97f4a7c15

// probeSeed is the seed probe agent a runs with: its lanes draw the
// streams of global lanes numbered after all the load agents' (and the
// probes' before it), not again those of load lanes 0…n−1.
func (r *Remote) probeSeed(base uint64, a *remoteAgent) uint64 {
	return base + uint64(r.lanes+a.first)*seedStride
}

// CheckWeight checks an agent's weight: 0 (the default, 1) or more.
func CheckWeight(w int) error {
	if w < 0 {
		return fmt.Errorf("%d: want 1 or more (default 1)", w)
	}
	return nil
}

// CheckRole checks an agent's role: "" (RoleLoad), RoleLoad or RoleProbe.
func CheckRole(role string) error {
	switch role {
	case "", RoleLoad, RoleProbe:
		return nil
	}
	return fmt.Errorf("%q: want %q or %q", role, RoleLoad, RoleProbe)
}

// CheckRoles checks the agents' roles together: one at least must make
// load, as probes only measure.
func CheckRoles(roles []string) error {
	for _, r := range roles {
		if r != RoleProbe {
			return nil
		}
	}
	if len(roles) == 0 {
		return errors.New("no agent")
	}
	return fmt.Errorf("every agent is a probe: want one with role %q (or none)", RoleLoad)
}

// launch starts agent a and prepares its generator.
func (r *Remote) launch(ctx context.Context, a *remoteAgent) error {
	l, err := a.Launcher.Launch(ctx)
	if err != nil {
		return fmt.Errorf("agent %s: start: %w", a.Name, err)
	}
	s, err := newSession(ctx, a.Name, l.Conn)
	if err != nil {
		return err
	}
	if l.SHA256 != "" && s.hello.SHA256 != l.SHA256 {
		s.close()
		return fmt.Errorf("agent %s: %w: it runs a binary of SHA-256 %s, not the %s started", a.Name, ErrProtocol, s.hello.SHA256, l.SHA256)
	}
	var p prepare
	if r.cfg.DNS != nil {
		c := *r.cfg.DNS
		c.Sockets = a.lanes
		if a.Role == RoleLoad {
			c.Share = loadgen.LaneShare{First: a.first, Total: r.lanes}
		} else {
			c.Seed = r.probeSeed(c.Seed, a)
		}
		p.DNS = &c
	} else {
		// An HTTP lane is a thread with its share of the connections.
		c := *r.cfg.HTTP
		c.Threads, c.Connections = a.lanes, a.lanes/r.perWeight()*r.connsPerWeight()
		if a.Role == RoleLoad {
			c.Share = loadgen.LaneShare{First: a.first, Total: r.lanes}
		} else {
			c.Seed = r.probeSeed(c.Seed, a)
		}
		p.HTTP = &c
	}
	p.TimerProbe = r.cfg.TimerProbe
	rd, err := s.prepare(ctx, p)
	if err == nil {
		err = checkReady(rd)
	}
	if err != nil {
		s.close()
		return fmt.Errorf("agent %s: prepare: %w", a.Name, err)
	}
	a.sess, a.load = s, rd.Load
	a.info = results.AgentInfo{Agent: a.Name, Role: a.Role, Host: s.hello.Host, CPUs: a.CPUs, NumCPU: s.hello.NumCPU,
		Weight: a.Weight, Lanes: a.lanes, BinarySHA256: s.hello.SHA256, Copied: a.info.Copied || l.Copied, Protocol: s.hello.Version,
		TimerNoise: rd.TimerNoise}
	return nil
}

// drop ends the agent's session, if any, without waiting for it (its
// stdin closes: it exits); the next step launches it again.
func (a *remoteAgent) drop() {
	if a.sess != nil {
		a.sess.abort()
		a.sess = nil
	}
}

// Describe implements loadgen.Generator: the agents' generator settings
// (a load agent's), Workers the sockets or connections of all agents
// (probes too), Threads the load agents' lanes, and each agent.
func (r *Remote) Describe() results.LoadInfo {
	var info results.LoadInfo
	for _, a := range r.agents {
		if a.Role == RoleLoad && info.Server == "" && a.load.Server != "" {
			info = a.load
		}
	}
	info.Workers, info.Threads, info.Agents = 0, 0, nil
	for _, a := range r.agents {
		info.Workers += a.load.Workers
		if a.Role == RoleLoad {
			info.Threads += a.lanes
		}
		info.Agents = append(info.Agents, a.info)
	}
	return info
}

// startLead is the least time between the start message and the agreed
// start instant; four round trips of the slowest agent are added.
const startLead = 50 * time.Millisecond

// RunStep implements loadgen.Generator. Agents lost in an earlier step
// are launched again first (an error if one cannot be); then each
// agent's clock offset is estimated, all get the same start instant on
// their own clocks, and their results are merged (merge). An agent lost
// mid-step fails that step only: the step is invalid, naming it, and the
// error is nil.
func (r *Remote) RunStep(ctx context.Context, spec loadgen.StepSpec) (loadgen.StepOutcome, error) {
	probeRate := 0.0
	for _, a := range r.agents {
		if a.Role == RoleProbe {
			probeRate += r.cfg.ProbeRate
		}
	}
	loadRate := spec.Rate - probeRate
	if !(loadRate > 0) {
		return loadgen.StepOutcome{}, fmt.Errorf("%w: rate %v: the probes take %v/s of it, leaving none for the load agents", loadgen.ErrConfig, spec.Rate, probeRate)
	}
	for _, a := range r.agents {
		if a.sess == nil || a.sess.lost() {
			a.drop()
			if err := r.launch(ctx, a); err != nil {
				return loadgen.StepOutcome{}, err
			}
		}
	}
	parts := make([]part, len(r.agents))
	var maxRTT time.Duration
	for i, a := range r.agents {
		parts[i] = part{name: a.Name, role: a.Role, rate: r.cfg.ProbeRate, lanes: a.lanes}
		if a.Role == RoleLoad {
			parts[i].rate = loadRate * float64(a.lanes) / float64(r.lanes)
		}
		c, err := a.sess.syncClock(ctx)
		if err != nil {
			parts[i].err = err
			continue
		}
		parts[i].clock = &c
		maxRTT = max(maxRTT, time.Duration(c.RTTUS*1e3))
	}
	if err := ctx.Err(); err != nil {
		for _, a := range r.agents {
			a.drop()
		}
		return loadgen.StepOutcome{}, fmt.Errorf("step at %.0f/s interrupted: %w", spec.Rate, err)
	}
	at := time.Now().Add(startLead + 4*maxRTT)
	for i, a := range r.agents {
		if parts[i].err != nil {
			continue
		}
		st := start{Rate: parts[i].rate, WarmupNS: int64(spec.Warmup), DurationNS: int64(spec.Duration),
			At: at.UnixNano() + int64(parts[i].clock.OffsetUS*1e3)}
		parts[i].at = st.At
		parts[i].err = a.sess.start(st)
	}
	limit := time.Until(at) + stepLength(spec) + loadgen.SendGrace + r.timeout() + resultGrace
	var wg sync.WaitGroup
	for i, a := range r.agents {
		if parts[i].err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &parts[i]
			if p.res, p.err = a.sess.result(ctx, limit); p.err == nil {
				p.rec, p.err = decodeRecorder(p.res.Hist)
			}
		}()
	}
	wg.Wait()
	// A session that went wrong in the step (a timeout, a message out of
	// turn, a lost connection) may be one message out of step with its
	// agent, whose late result would answer the next step's ping: it is
	// ended, and the next step launches the agent again.
	for i, a := range r.agents {
		if parts[i].err != nil || ctx.Err() != nil {
			a.drop()
		}
	}
	if err := ctx.Err(); err != nil {
		return loadgen.StepOutcome{}, fmt.Errorf("step at %.0f/s interrupted: %w", spec.Rate, err)
	}
	o := merge(spec, r.limits, parts)
	o.Started = at
	return o, nil
}

// timeout is the agents' answer timeout.
func (r *Remote) timeout() time.Duration {
	d := loadgen.DefaultTimeout
	if r.cfg.DNS != nil && r.cfg.DNS.Timeout > 0 {
		d = r.cfg.DNS.Timeout
	}
	if r.cfg.HTTP != nil && r.cfg.HTTP.Timeout > 0 {
		d = r.cfg.HTTP.Timeout
	}
	return d
}

// Close ends every agent (bye, then its stdin closes) and releases the
// launchers. It may be called more than once.
func (r *Remote) Close() error {
	var errs []error
	var wg sync.WaitGroup
	for _, a := range r.agents {
		if a.sess != nil {
			wg.Add(1)
			go func(s *session) { defer wg.Done(); s.close() }(a.sess)
			a.sess = nil
		}
	}
	wg.Wait()
	for _, a := range r.agents {
		if err := a.Launcher.Close(); err != nil {
			errs = append(errs, fmt.Errorf("agent %s: %w", a.Name, err))
		}
	}
	return errors.Join(errs...)
}
