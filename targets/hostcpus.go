package targets

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ukbench/ukbench/internal/fielderr"
)

// UsableCPUs are the host CPUs ukbench may run on, and so may the servers
// and QEMUs it starts: the process's CPUs when it started (its affinity
// mask, which taskset or a cgroup cpuset may make non-contiguous), taken
// before any thread is pinned; 0 to runtime.NumCPU()-1 when the mask
// cannot be read. Ascending; the caller may keep the slice.
func UsableCPUs() []int {
	if !startCPUsKnown {
		cpus := make([]int, runtime.NumCPU())
		for i := range cpus {
			cpus[i] = i
		}
		return cpus
	}
	var cpus []int
	for c := 0; c < 8*len(startCPUs); c++ {
		if startCPUs.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// CheckHostCPUs reports, as field's error, a CPU not in UsableCPUs: the
// one check of host CPUs for targets and an experiment's placement, made
// with the config rather than when pinning fails after a boot.
func CheckHostCPUs(field string, cpus []int) error {
	usable := UsableCPUs()
	for _, c := range cpus {
		switch {
		case c < 0:
			return fielderr.Errorf(field, "%d: want CPU numbers ≥ 0", c)
		case !slices.Contains(usable, c):
			return fielderr.Errorf(field, "CPU %d: this host lets ukbench use CPUs %s", c, cpuList(usable))
		}
	}
	return nil
}

// startCPUs are the CPUs the process could run on when it started.
var startCPUs, startCPUsKnown = func() (unix.CPUSet, bool) {
	var set unix.CPUSet
	err := unix.SchedGetaffinity(0, &set)
	return set, err == nil
}()

// cpuList writes ascending CPUs as Linux does: 0-3,6.
func cpuList(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); i++ {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j
	}
	return strings.Join(parts, ",")
}
