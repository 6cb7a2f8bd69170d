package experiment

import (
	"fmt"

	"github.com/ukbench/ukbench/targets"
	"github.com/ukbench/ukbench/targets/servers"
)

// RunKey identifies one run: target × workload × repeat (and memory size
// in a memory sweep). It is what --resume matches finished runs by.
type RunKey struct {
	Target   string `json:"target"`
	Workload string `json:"workload"`
	Repeat   int    `json:"repeat"`
}

func (k RunKey) String() string { return fmt.Sprintf("%s %s #%d", k.Target, k.Workload, k.Repeat) }

// ID is the key as a file name stem.
func (k RunKey) ID() string { return fmt.Sprintf("%s-%s-r%d", k.Target, k.Workload, k.Repeat) }

// PlannedRun is one run of the plan with everything needed to do it.
type PlannedRun struct {
	Key      RunKey
	Spec     targets.Spec // app and VM shape resolved
	Workload Workload
}

// Plan lists the runs in the order they happen: repeat by repeat, and
// within a repeat every workload against every target, the targets'
// order rotated each repeat (A B, B A, …) so that drift and order effects
// hit every target alike (DESIGN.md rule 5).
func (c *Config) Plan() []PlannedRun {
	mems := c.MemorySweep
	if len(mems) == 0 {
		mems = []int{0}
	}
	var plan []PlannedRun
	for r := 1; r <= c.Repeats; r++ {
		for _, mem := range mems {
			for _, w := range c.Workloads {
				var ts []targets.Spec
				for _, t := range c.Targets {
					if t.Kind == targets.KindNative && mem != mems[0] {
						continue // a host process has no guest memory to sweep
					}
					if serves(t, w.Kind) {
						ts = append(ts, t)
					}
				}
				for i := range ts {
					t := ts[(i+r-1)%len(ts)]
					app := t.App
					if app == "" {
						app = string(w.Kind) // ukbench serve KIND: the app is named by its protocol
					}
					s := c.specFor(t, app, mem)
					plan = append(plan, PlannedRun{Key: RunKey{Target: s.Label(), Workload: w.Label(), Repeat: r}, Spec: s, Workload: w})
				}
			}
		}
	}
	return plan
}

// specFor is a target with its app and the experiment's VM shape (memory
// overridden in a memory sweep, and then named in the label).
func (c *Config) specFor(t targets.Spec, app string, memMiB int) targets.Spec {
	s := t
	s.App = app
	s.VM = c.VM
	s.Name = t.Label()
	if memMiB != 0 && len(c.MemorySweep) > 0 {
		if t.Kind != targets.KindNative {
			s.VM.MemoryMiB = memMiB
			s.Name = fmt.Sprintf("%s@%dMiB", t.Label(), memMiB)
		}
	}
	return s
}

// MaxRuns is the most runs a plan may hold. A campaign's plan is built
// whole before its first run; a few lines of YAML (repeats: 1000, a long
// memory_sweep, many workloads and targets) could otherwise ask for
// billions. A run takes seconds at the least, so 100,000 is weeks.
const MaxRuns = 100_000

// planExceeds reports whether Plan would hold more than limit runs,
// counting them without building it (and without overflowing).
func (c *Config) planExceeds(limit int) bool {
	mems := max(len(c.MemorySweep), 1)
	type count struct{ native, guest int }
	byKind := map[servers.Protocol]count{}
	perRepeat := 0
	for _, w := range c.Workloads {
		n, ok := byKind[w.Kind]
		if !ok {
			for _, t := range c.Targets {
				switch {
				case !serves(t, w.Kind):
				case t.Kind == targets.KindNative:
					n.native++ // once, at the sweep's first size
				default:
					n.guest++
				}
			}
			byKind[w.Kind] = n
		}
		if n.guest > limit/mems {
			return true
		}
		perRepeat += n.native + n.guest*mems
		if perRepeat > limit {
			return true
		}
	}
	return c.Repeats > 0 && perRepeat > limit/c.Repeats
}
