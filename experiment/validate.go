package experiment

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/targets"
)

// Validate reports the first problem with c as "FIELD: WHAT" (FIELD a path
// such as targets[1].app, which Load turns into a file line).
func (c *Config) Validate() error {
	if c.Repeats < 1 || c.Repeats > 1000 {
		return fmt.Errorf("repeats: %d: want 1 to 1000", c.Repeats)
	}
	if err := c.VM.Validate("vm."); err != nil {
		return err
	}
	for i, m := range c.MemorySweep {
		if m < 32 {
			return fmt.Errorf("memory_sweep[%d]: %d MiB: want at least 32", i, m)
		}
	}
	if c.BootTimeout < 0 {
		return fmt.Errorf("boot_timeout: must not be negative")
	}
	if len(c.Targets) == 0 {
		return fmt.Errorf("targets: none given")
	}
	if len(c.Workloads) == 0 {
		return fmt.Errorf("workloads: none given")
	}
	names := map[string]bool{}
	for i, t := range c.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		if !reflect.ValueOf(t.VM).IsZero() {
			return fmt.Errorf("%s.vm: every guest shares the experiment's vm; set the shape there", field)
		}
		if names[t.Label()] {
			return fmt.Errorf("%s.name: %q is used twice (give each target a name)", field, t.Label())
		}
		names[t.Label()] = true
		for _, app := range appsToCheck(t) {
			s := c.specFor(t, app, c.VM.MemoryMiB)
			if err := s.Validate(); err != nil {
				return fmt.Errorf("%s.%s", field, err)
			}
		}
	}
	wnames := map[string]bool{}
	for i, w := range c.Workloads {
		if err := w.validate(); err != nil {
			return fmt.Errorf("workloads[%d].%s", i, err)
		}
		if wnames[w.Label()] {
			return fmt.Errorf("workloads[%d].name: %q is used twice", i, w.Label())
		}
		wnames[w.Label()] = true
		served := false
		for _, t := range c.Targets {
			served = served || serves(t, w.Kind)
		}
		if !served {
			return fmt.Errorf("workloads[%d].kind: no target serves %s", i, w.Kind)
		}
	}
	if p := c.Placement; p != nil {
		n := runtime.NumCPU()
		seen := map[int]bool{}
		for _, list := range []struct {
			name string
			cpus []int
		}{{"load_cpus", p.LoadCPUs}, {"target_cpus", p.TargetCPUs}} {
			if len(list.cpus) == 0 {
				return fmt.Errorf("placement.%s: none given", list.name)
			}
			for _, cpu := range list.cpus {
				if cpu < 0 || cpu >= n {
					return fmt.Errorf("placement.%s: CPU %d: this host has CPUs 0 to %d", list.name, cpu, n-1)
				}
				if seen[cpu] {
					return fmt.Errorf("placement.%s: CPU %d is given twice (generator and targets must not share)", list.name, cpu)
				}
				seen[cpu] = true
			}
		}
	}
	return nil
}

// appsToCheck lists the apps a target would run: its own, or one per
// protocol when it leaves app to the workload.
func appsToCheck(t targets.Spec) []string {
	if t.App != "" {
		return []string{t.App}
	}
	if t.Kind == targets.KindOSv {
		return []string{""} // invalid: Validate names the missing app
	}
	return []string{"dns", "http"}
}

// serves reports whether a target can take a workload of this kind.
func serves(t targets.Spec, kind string) bool {
	if t.App == "" {
		return t.Kind != targets.KindOSv
	}
	return t.Protocol() == kind
}

func (w Workload) validate() error {
	switch w.Kind {
	case "dns", "http":
	default:
		return fmt.Errorf("kind: %q: want dns or http", w.Kind)
	}
	if _, err := loadgen.ParseRates(w.Rates); err != nil {
		return fmt.Errorf("rates: %v", err)
	}
	if _, err := loadgen.ParseArrivals(w.Arrivals); err != nil {
		return fmt.Errorf("arrivals: %v", err)
	}
	switch {
	case w.Step <= 0:
		return fmt.Errorf("step: must be positive")
	case w.Warmup < 0:
		return fmt.Errorf("warmup: must not be negative")
	case w.Timeout <= 0:
		return fmt.Errorf("timeout: must be positive")
	case w.SLOP99 < 0:
		return fmt.Errorf("slo_p99: must not be negative")
	case w.MaxLoss != nil && (*w.MaxLoss < 0 || *w.MaxLoss > 1):
		return fmt.Errorf("max_loss: %g: want a fraction from 0 to 1", *w.MaxLoss)
	case w.MinAchieved <= 0 || w.MinAchieved > 1:
		return fmt.Errorf("min_achieved: %g: want a fraction above 0, at most 1", w.MinAchieved)
	case w.LateAfter <= 0:
		return fmt.Errorf("late_after: must be positive")
	case w.MaxLate <= 0 || w.MaxLate > 1:
		return fmt.Errorf("max_late: %g: want a fraction above 0, at most 1", w.MaxLate)
	case w.Retries != nil && *w.Retries < 0:
		return fmt.Errorf("retries: must not be negative")
	case w.Bisect < 0:
		return fmt.Errorf("bisect: must not be negative")
	case w.Sockets < 1 || w.Sockets > 64:
		return fmt.Errorf("sockets: %d: want 1 to 64", w.Sockets)
	case w.Connections < 1 || w.Connections > 4096:
		return fmt.Errorf("connections: %d: want 1 to 4096", w.Connections)
	case w.ExpectBodySize != nil && *w.ExpectBodySize < 1:
		return fmt.Errorf("expect_body_size: %d: want a byte count above 0 (leave it out to accept any size)", *w.ExpectBodySize)
	case !strings.HasPrefix(w.Path, "/"):
		return fmt.Errorf("path: %q: want an absolute path such as /", w.Path)
	}
	if w.Kind == "dns" && (w.NewConnection || w.ExpectBodySize != nil) {
		return fmt.Errorf("new_connection/expect_body_size: only for http workloads")
	}
	if w.Kind != "dns" && w.Transport != "" {
		return fmt.Errorf("transport: only for dns workloads (http runs over tcp)")
	}
	if w.Kind == "dns" && w.Transport != "udp" && w.Transport != "tcp" {
		return fmt.Errorf("transport: %q: want udp or tcp", w.Transport)
	}
	if w.Queries != "" {
		if w.Kind != "dns" {
			return fmt.Errorf("queries: only for dns workloads")
		}
		if _, err := os.Stat(w.Queries); err != nil {
			return fmt.Errorf("queries: %v", err)
		}
	}
	return nil
}
