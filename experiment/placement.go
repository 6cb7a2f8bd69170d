package experiment

import (
	"fmt"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

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

// pinSelf confines every thread of this process to cpus; threads made
// later inherit it from the thread that makes them. It returns a function
// that restores the previous affinity.
func pinSelf(cpus []int) (restore func(), err error) {
	if len(cpus) == 0 {
		return func() {}, nil
	}
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	for _, c := range cpus {
		set.Set(c)
	}
	if err := forEachThread(func(tid int) error { return unix.SchedSetaffinity(tid, &set) }); err != nil {
		return nil, fmt.Errorf("pin ukbench to CPUs %v: %w", cpus, err)
	}
	return func() { forEachThread(func(tid int) error { return unix.SchedSetaffinity(tid, &old) }) }, nil
}

func forEachThread(f func(tid int) error) error {
	tasks, err := filepath.Glob("/proc/self/task/*")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(filepath.Base(t))
		if err != nil {
			continue
		}
		if err := f(tid); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}
