package experiment

import (
	"github.com/ukbench/ukbench/targets"
)

// Placement is where the generator and the targets ran (recorded in the
// manifest). Empty lists mean "not pinned".
type Placement struct {
	LoadCPUs   []int  `json:"load_cpus"`
	TargetCPUs []int  `json:"target_cpus"`
	Note       string `json:"note,omitempty"`
}

// choosePlacement applies the config's placement, or the default: with at
// least 2 usable CPUs (targets.UsableCPUs) the generator gets the first and
// the targets the rest; with one nothing is pinned (and the note says they
// share it).
func choosePlacement(p *PlacementConfig) Placement {
	if p != nil {
		return Placement{LoadCPUs: p.LoadCPUs, TargetCPUs: p.TargetCPUs}
	}
	cpus := targets.UsableCPUs()
	if len(cpus) < 2 {
		return Placement{Note: "one host CPU: generator and targets share it"}
	}
	return Placement{LoadCPUs: cpus[:1], TargetCPUs: cpus[1:]}
}
