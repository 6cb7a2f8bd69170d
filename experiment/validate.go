package experiment

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/ukbench/ukbench/internal/fielderr"
	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/targets"
	"github.com/ukbench/ukbench/targets/linuximage"
	"github.com/ukbench/ukbench/targets/servers"
)

// Validate reports the first problem with c as a *fielderr.Error, "FIELD:
// WHAT" (FIELD a path such as targets[1].app, which Load turns into a file
// line).
func (c *Config) Validate() error {
	for _, f := range []struct{ field, path string }{{"output", c.Output}, {"name", c.Name}} {
		if err := fielderr.CheckLine(f.field, f.path); err != nil {
			return err
		}
	}
	if c.Repeats < 1 || c.Repeats > 1000 {
		return fielderr.Errorf("repeats", "%d: want 1 to 1000", c.Repeats)
	}
	if err := c.VM.Validate(); err != nil {
		return fielderr.In(err, "vm")
	}
	mems := map[int]bool{}
	for i, m := range c.MemorySweep {
		if m < 32 {
			return fielderr.In(fmt.Errorf("%d MiB: want at least 32", m), "memory_sweep", fielderr.Index(i))
		}
		if mems[m] { // its runs would have the same keys as the first's
			return fielderr.In(fmt.Errorf("%d MiB is given twice", m), "memory_sweep", fielderr.Index(i))
		}
		mems[m] = true
	}
	if c.BootTimeout < 0 {
		return fielderr.Errorf("boot_timeout", "must not be negative")
	}
	if len(c.Targets) == 0 {
		return fielderr.Errorf("targets", "none given")
	}
	if len(c.Workloads) == 0 {
		return fielderr.Errorf("workloads", "none given")
	}
	names := map[string]bool{}
	for i, t := range c.Targets {
		if err := c.validateTarget(t, names); err != nil {
			return fielderr.In(err, "targets", fielderr.Index(i))
		}
	}
	wnames := map[string]bool{}
	for i, w := range c.Workloads {
		if err := c.validateWorkload(w, wnames); err != nil {
			return fielderr.In(err, "workloads", fielderr.Index(i))
		}
	}
	if c.planExceeds(MaxRuns) {
		return fmt.Errorf("the plan has more than %d runs (repeats × memory sizes × workloads × the targets serving each): want at most %d", MaxRuns, MaxRuns)
	}
	if c.Load != nil {
		if err := c.Load.validate(c); err != nil {
			return err
		}
	}
	if p := c.Placement; p != nil {
		seen := map[int]bool{}
		for _, list := range []struct {
			name string
			cpus []int
		}{{"load_cpus", p.LoadCPUs}, {"target_cpus", p.TargetCPUs}} {
			if len(list.cpus) == 0 {
				return fielderr.In(errors.New("none given"), "placement", list.name)
			}
			if err := targets.CheckHostCPUs(list.name, list.cpus); err != nil {
				return fielderr.In(err, "placement")
			}
			for _, cpu := range list.cpus {
				if seen[cpu] {
					return fielderr.In(fmt.Errorf("CPU %d is given twice (generator and targets must not share)", cpu), "placement", list.name)
				}
				seen[cpu] = true
			}
		}
	}
	return nil
}

// errPerTargetVM is the error of a target that sets its own vm.
var errPerTargetVM = fielderr.Errorf("vm", "every guest shares the experiment's vm; set the shape there")

// validateTarget checks one entry of targets (names: the labels of those
// before it).
func (c *Config) validateTarget(t targets.Spec, names map[string]bool) error {
	if !reflect.ValueOf(t.VM).IsZero() {
		return errPerTargetVM
	}
	if names[t.Label()] {
		return fielderr.Errorf("name", "%q is used twice (give each target a name)", t.Label())
	}
	names[t.Label()] = true
	for _, app := range appsToCheck(t) {
		s := c.specFor(t, app, c.VM.MemoryMiB)
		if err := s.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// validateWorkload checks one entry of workloads (names: the labels of
// those before it).
func (c *Config) validateWorkload(w Workload, names map[string]bool) error {
	if w.Name != "" {
		if err := targets.CheckName(w.Name); err != nil {
			return fielderr.Wrap("name", err)
		}
	}
	if err := w.validate(); err != nil {
		return err
	}
	if names[w.Label()] {
		return fielderr.Errorf("name", "%q is used twice", w.Label())
	}
	names[w.Label()] = true
	served := false
	for _, t := range c.Targets {
		served = served || serves(t, w.Kind)
	}
	if !served {
		return fielderr.Errorf("kind", "no target serves %s", w.Kind)
	}
	return nil
}

// appsToCheck lists the apps a target would run: its own, or one per
// protocol when it leaves app to the workload (linux, native, and osv
// composed from a kernel).
func appsToCheck(t targets.Spec) []string {
	if t.App != "" {
		return []string{t.App}
	}
	if t.FinishedOSvImage() {
		return []string{""} // invalid: Validate names the missing app (a finished image serves one)
	}
	return []string{linuximage.AppDNS, linuximage.AppHTTP}
}

// serves reports whether a target can take a workload of this kind.
func serves(t targets.Spec, kind servers.Protocol) bool {
	if t.App == "" {
		return !t.FinishedOSvImage() // a composed osv guest is composed per app
	}
	return t.Protocol() == kind
}

func (w Workload) validate() error {
	switch w.Kind {
	case servers.DNS, servers.HTTP:
	default:
		return fielderr.Errorf("kind", "%q: want %s or %s", w.Kind, servers.DNS, servers.HTTP)
	}
	if _, err := loadgen.ParseRates(w.Rates); err != nil {
		return fielderr.Wrap("rates", err)
	}
	if _, err := loadgen.ParseArrivals(w.Arrivals); err != nil {
		return fielderr.Wrap("arrivals", err)
	}
	if err := loadgen.CheckStepLength(w.Step.D()); err != nil {
		return fielderr.Wrap("step", err)
	}
	if w.Threads != 0 { // 0: left out, loadgen.DefaultThreads
		if err := loadgen.CheckThreads(w.Threads, w.Connections); err != nil {
			return fielderr.Wrap("threads", err)
		}
	}
	switch {
	case w.Warmup < 0:
		return fielderr.Errorf("warmup", "must not be negative")
	case w.Timeout <= 0:
		return fielderr.Errorf("timeout", "must be positive")
	case w.SLOP99 < 0:
		return fielderr.Errorf("slo_p99", "must not be negative")
	case w.MaxLoss != nil && (*w.MaxLoss < 0 || *w.MaxLoss > 1):
		return fielderr.Errorf("max_loss", "%g: want a fraction from 0 to 1", *w.MaxLoss)
	case w.MinAchieved <= 0 || w.MinAchieved > 1:
		return fielderr.Errorf("min_achieved", "%g: want a fraction above 0, at most 1", w.MinAchieved)
	case w.LateAfter <= 0:
		return fielderr.Errorf("late_after", "must be positive")
	case w.MaxLate < 0 || w.MaxLate > 1:
		return fielderr.Errorf("max_late", "%g: want a fraction from 0 (off, the default: steps are judged by the load delivered) to 1", w.MaxLate)
	case w.Retries != nil && *w.Retries < 0:
		return fielderr.Errorf("retries", "must not be negative")
	case w.Bisect < 0:
		return fielderr.Errorf("bisect", "must not be negative")
	case w.Sockets < 1 || w.Sockets > loadgen.MaxDNSSockets:
		return fielderr.Errorf("sockets", "%d: want 1 to %d", w.Sockets, loadgen.MaxDNSSockets)
	case w.Connections < 1 || w.Connections > loadgen.MaxConnections:
		return fielderr.Errorf("connections", "%d: want 1 to %d", w.Connections, loadgen.MaxConnections)
	case w.ExpectBodySize != nil && *w.ExpectBodySize < 1:
		return fielderr.Errorf("expect_body_size", "%d: want a byte count above 0 (leave it out to accept any size)", *w.ExpectBodySize)
	}
	if err := loadgen.CheckRequestPath(w.Path); err != nil {
		return fielderr.Wrap("path", err)
	}
	if w.Kind == servers.DNS && (w.NewConnection || w.ExpectBodySize != nil) {
		return fielderr.Errorf("new_connection/expect_body_size", "only for http workloads")
	}
	if w.Kind == servers.DNS && w.Threads != 0 {
		return fielderr.Errorf("threads", "only for http workloads (dns runs a thread per socket: sockets)")
	}
	if w.Kind != servers.DNS && w.Transport != "" {
		return fielderr.Errorf("transport", "only for dns workloads (http runs over tcp)")
	}
	if w.Kind == servers.DNS && w.Transport != loadgen.TransportUDP && w.Transport != loadgen.TransportTCP {
		return fielderr.Errorf("transport", "%q: want udp or tcp", w.Transport)
	}
	if err := fielderr.CheckLine("queries", w.Queries); err != nil {
		return err
	}
	if w.Queries != "" {
		if w.Kind != servers.DNS {
			return fielderr.Errorf("queries", "only for dns workloads")
		}
		// Read whole now: a bad line is found before anything boots,
		// not by the run that needs it.
		if _, err := loadgen.LoadDNSQueries(w.Queries); err != nil {
			return fielderr.Wrap("queries", err)
		}
	}
	return nil
}
