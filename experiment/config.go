// Package experiment runs a benchmark campaign from a YAML config: it boots
// every target on a fresh guest for each repeat, interleaving targets,
// sweeps each workload against it, and appends every finished run to
// runs.jsonl at once, with a manifest that records the provenance (DESIGN.md,
// "Data flow" and "Result format").
package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ukbench/ukbench/internal/fielderr"
	"github.com/ukbench/ukbench/internal/yamlstrict"
	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/targets"
	"github.com/ukbench/ukbench/targets/servers"
)

// Config is an experiment file.
type Config struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Output is the result directory (default ukbench-results/NAME),
	// relative to the working directory.
	Output  string `yaml:"output" json:"output,omitempty"`
	Repeats int    `yaml:"repeats" json:"repeats"`
	// VM is the shape every guest target shares.
	VM targets.VMShape `yaml:"vm" json:"vm"`
	// MemorySweep, when set, runs every guest target once per memory size
	// (MiB), overriding vm.memory_mib: the memory-pressure test.
	MemorySweep []int `yaml:"memory_sweep" json:"memory_sweep,omitempty"`
	// BootTimeout bounds each boot (default 60 s under KVM, 300 s under TCG).
	BootTimeout Duration         `yaml:"boot_timeout" json:"boot_timeout,omitempty"`
	Targets     []targets.Spec   `yaml:"targets" json:"targets"`
	Workloads   []Workload       `yaml:"workloads" json:"workloads"`
	Placement   *PlacementConfig `yaml:"placement" json:"placement,omitempty"`
	// Load, when it names agents, makes every run's load on them over
	// SSH; by default the load is made here.
	Load *LoadConfig `yaml:"load" json:"load,omitempty"`
}

// PlacementConfig says which host CPUs the load generator and the targets
// use. Default, on a host with at least 2 CPUs: the generator on CPU 0,
// the targets on the others.
type PlacementConfig struct {
	LoadCPUs   []int `yaml:"load_cpus" json:"load_cpus"`
	TargetCPUs []int `yaml:"target_cpus" json:"target_cpus"`
}

// Workload is one kind of load, run against every target that serves its
// protocol.
type Workload struct {
	Name     string           `yaml:"name" json:"name"`
	Kind     servers.Protocol `yaml:"kind" json:"kind"`
	Rates    string           `yaml:"rates" json:"rates"`
	Step     Duration         `yaml:"step" json:"step"`
	Warmup   Duration         `yaml:"warmup" json:"warmup"`
	Arrivals string           `yaml:"arrivals" json:"arrivals,omitempty"`
	Seed     uint64           `yaml:"seed" json:"seed,omitempty"`
	Timeout  Duration         `yaml:"timeout" json:"timeout,omitempty"`
	// FindMax stops at the first unsustainable rate and bisects.
	FindMax     bool     `yaml:"find_max" json:"find_max,omitempty"`
	Bisect      int      `yaml:"bisect" json:"bisect,omitempty"`
	Retries     *int     `yaml:"retries" json:"retries,omitempty"`
	SLOP99      Duration `yaml:"slo_p99" json:"slo_p99,omitempty"`
	MaxLoss     *float64 `yaml:"max_loss" json:"max_loss,omitempty"`
	MinAchieved float64  `yaml:"min_achieved" json:"min_achieved,omitempty"`
	// LateAfter: a send this late after its intended time is late, and
	// the tolerance of the inter-arrival check (default 1 ms, as `ukbench
	// load`). MaxLate is the strict rule, off when left out or 0: a step with
	// more than this fraction of its sends late is invalid, whatever they
	// distorted (DESIGN.md rule 2).
	LateAfter Duration `yaml:"late_after" json:"late_after,omitempty"`
	MaxLate   float64  `yaml:"max_late" json:"max_late,omitempty"`
	// dns: Transport is udp (default) or tcp; Sockets are UDP sockets or
	// TCP connections.
	Transport string `yaml:"transport" json:"transport,omitempty"`
	Sockets   int    `yaml:"sockets" json:"sockets,omitempty"`
	Queries   string `yaml:"queries" json:"queries,omitempty"`
	// http. Threads: the lanes the load runs on (loadgen.HTTPConfig.Threads),
	// each an event loop on its own OS thread with its share of the
	// schedule and of the connections; the threads run on the placement's
	// load CPUs (the campaign pins the whole process there before any load).
	// Left out (0 here, so a campaign begun before this key resumes with
	// the same plan) it is loadgen.DefaultThreads(connections); each run records the
	// number it ran with (results.LoadInfo.Threads).
	Connections    int    `yaml:"connections" json:"connections,omitempty"`
	Threads        int    `yaml:"threads" json:"threads,omitempty"`
	NewConnection  bool   `yaml:"new_connection" json:"new_connection,omitempty"`
	Path           string `yaml:"path" json:"path,omitempty"`
	ExpectBodySize *int   `yaml:"expect_body_size" json:"expect_body_size,omitempty"`
}

// Label is the workload's name in results (default: its kind).
func (w Workload) Label() string {
	if w.Name != "" {
		return w.Name
	}
	return string(w.Kind)
}

// Duration is a time.Duration written as "10s" in YAML and JSON.
type Duration time.Duration

// UnmarshalText parses a Go duration ("500ms", "10s").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if _, nerr := strconv.ParseFloat(string(b), 64); err != nil && nerr == nil && v == 0 && string(b) != "0" {
		return fmt.Errorf("%q: want a duration with its unit, such as %ss or %sms", b, b, b)
	}
	if err != nil {
		return fmt.Errorf("%q: want a duration such as 500ms or 10s", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as Go prints it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Load reads an experiment file (at most yamlstrict.MaxFileSize bytes) and
// returns it as LoadBytes does, with the bytes read.
func Load(path string) (*Config, []byte, error) {
	data, err := yamlstrict.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	c, err := LoadBytes(path, data)
	if err != nil {
		return nil, nil, err
	}
	return c, data, nil
}

// LoadBytes reads the experiment file path holds data: strict YAML (an
// unknown key, a wrong type, an anchor or alias is an error), ${VAR}
// expanded in paths, defaults filled, validated (the files it names are
// looked for, and a queries file read). Every error wraps
// yamlstrict.ErrConfig and names the file, the line and the field.
func LoadBytes(path string, data []byte) (*Config, error) {
	var c Config
	if err := yamlstrict.Decode(path, data, &c); err != nil {
		return nil, err
	}
	for i := range c.Targets {
		c.Targets[i].ExpandPaths()
	}
	for i := range c.Workloads {
		c.Workloads[i].Queries = os.ExpandEnv(c.Workloads[i].Queries)
	}
	c.Output = os.ExpandEnv(c.Output)
	doc := yamlstrict.Parse(data)
	if err := c.explicitZeros(doc.Has); err != nil {
		return nil, yamlstrict.Locate(path, data, err)
	}
	c.fillDefaults(path, doc.Has)
	if err := c.Validate(); err != nil {
		return nil, yamlstrict.Locate(path, data, err)
	}
	return &c, nil
}

// explicitZeros reports a field the file sets to 0 where 0 means nothing
// (repeats: 0, step: 0s, vm.cpus: 0, ...): fillDefaults would take it for
// "not set" and run the default. has says whether the file sets a field.
// Where 0 has a meaning (warmup: 0s, none; slo_p99: 0s, no SLO; seed: 0, a
// seed), fillDefaults keeps it.
func (c *Config) explicitZeros(has func(path ...string) bool) error {
	switch {
	case c.Repeats == 0 && has("repeats"):
		return fielderr.Errorf("repeats", "0: want 1 to 1000 (leave it out for 3)")
	case c.BootTimeout == 0 && has("boot_timeout"):
		return fielderr.Errorf("boot_timeout", "0s: want a positive duration (leave it out for the default: 60s under KVM, 300s under TCG)")
	}
	if err := c.VM.ExplicitZeros(func(f string) bool { return has("vm", f) }); err != nil {
		return fielderr.In(err, "vm")
	}
	for i, t := range c.Targets {
		if has("targets", fielderr.Index(i), "vm") { // said first: no per-target shape at all
			return fielderr.In(errPerTargetVM, "targets", fielderr.Index(i))
		}
		if err := t.ExplicitZeros(func(p ...string) bool { return has(append([]string{"targets", fielderr.Index(i)}, p...)...) }); err != nil {
			return fielderr.In(err, "targets", fielderr.Index(i))
		}
	}
	for i, w := range c.Workloads {
		set := func(f string) bool { return has("workloads", fielderr.Index(i), f) }
		var err error
		switch {
		case w.Step == 0 && set("step"):
			err = fielderr.Errorf("step", "0s: want a positive duration (leave it out for %v)", loadgen.DefaultStep)
		case w.Timeout == 0 && set("timeout"):
			err = fielderr.Errorf("timeout", "0s: want a positive duration (leave it out for %v)", loadgen.DefaultTimeout)
		case w.LateAfter == 0 && set("late_after"):
			err = fielderr.Errorf("late_after", "0s: want a positive duration (leave it out for %v)", loadgen.DefaultLimits.LateAfter)
		case w.MinAchieved == 0 && set("min_achieved"):
			err = fielderr.Errorf("min_achieved", "0: want a fraction above 0, at most 1 (leave it out for %g)", loadgen.DefaultCriteria.MinAchieved)
		case w.Bisect == 0 && set("bisect"):
			err = fielderr.Errorf("bisect", "0: want 1 or more bisection steps (leave it out for %d; find_max: false searches none)", loadgen.DefaultBisectSteps)
		case w.Sockets == 0 && set("sockets"):
			err = fielderr.Errorf("sockets", "0: want 1 to %d (leave it out for %d)", loadgen.MaxDNSSockets, loadgen.DefaultDNSSockets)
		case w.Connections == 0 && set("connections"):
			err = fielderr.Errorf("connections", "0: want 1 to %d (leave it out for %d)", loadgen.MaxConnections, loadgen.DefaultConnections)
		case w.Threads == 0 && set("threads"):
			err = fielderr.Errorf("threads", "0: want 1 to %d (leave it out for one per %d connections)", loadgen.MaxThreads, loadgen.ConnsPerThread)
		case w.Rates == "" && set("rates"):
			err = fielderr.Errorf("rates", "empty: want rates such as 1000:10000:1000 (leave it out for %s)", loadgen.DefaultRates)
		}
		if err != nil {
			return fielderr.In(err, "workloads", fielderr.Index(i))
		}
	}
	return nil
}

// fillDefaults fills what the file leaves out (has says what it sets).
func (c *Config) fillDefaults(path string, has func(path ...string) bool) {
	if c.Name == "" {
		c.Name = trimExt(filepath.Base(path))
	}
	if c.Output == "" {
		c.Output = filepath.Join("ukbench-results", c.Name)
	}
	if c.Repeats == 0 {
		c.Repeats = 3
	}
	c.VM = c.VM.WithDefaults()
	for i := range c.Workloads {
		w := &c.Workloads[i]
		set := func(f string) bool { return has("workloads", fielderr.Index(i), f) }
		if w.Rates == "" {
			w.Rates = loadgen.DefaultRates
		}
		if w.Step == 0 {
			w.Step = Duration(loadgen.DefaultStep)
		}
		if w.Warmup == 0 && !set("warmup") { // warmup: 0s is none
			w.Warmup = Duration(loadgen.DefaultWarmup)
		}
		if w.Arrivals == "" {
			w.Arrivals = string(loadgen.Constant)
		}
		if w.Timeout == 0 {
			w.Timeout = Duration(loadgen.DefaultTimeout)
		}
		if w.Seed == 0 && !set("seed") { // seed: 0 is a seed
			w.Seed = loadgen.DefaultSeed
		}
		if w.SLOP99 == 0 && !set("slo_p99") { // slo_p99: 0s is no SLO (README)
			w.SLOP99 = Duration(loadgen.DefaultCriteria.SLOP99)
		}
		if w.LateAfter == 0 {
			w.LateAfter = Duration(loadgen.DefaultLimits.LateAfter)
		}
		if w.MinAchieved == 0 {
			w.MinAchieved = loadgen.DefaultCriteria.MinAchieved
		}
		if w.Bisect == 0 {
			w.Bisect = loadgen.DefaultBisectSteps
		}
		if w.Sockets == 0 {
			w.Sockets = loadgen.DefaultDNSSockets
		}
		if w.Kind == servers.DNS && w.Transport == "" {
			w.Transport = loadgen.DefaultDNSTransport
		}
		if w.Connections == 0 {
			w.Connections = loadgen.DefaultConnections
		}
		if w.Path == "" {
			w.Path = "/"
		}
	}
}

func trimExt(s string) string { return s[:len(s)-len(filepath.Ext(s))] }

// Trim makes the campaign a smoke test: one repeat, the first two rates of
// each workload, 1 s steps after a 0.5 s warm-up, no search for the maximum.
func (c *Config) Trim() {
	c.Repeats = 1
	for i := range c.Workloads {
		w := &c.Workloads[i]
		if rates, err := loadgen.ParseRates(w.Rates); err == nil && len(rates) > 2 {
			w.Rates = fmt.Sprintf("%g,%g", rates[0], rates[1])
		}
		w.Step = Duration(time.Second)
		w.Warmup = Duration(500 * time.Millisecond)
		w.FindMax = false
	}
	if len(c.MemorySweep) > 2 {
		c.MemorySweep = c.MemorySweep[:2]
	}
}
