package targets

import (
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ukbench/ukbench/internal/fielderr"
)

// checkHostCPUs reports a host CPU the target cannot be pinned to: one
// this process may not run on (so neither may the server or QEMU it
// starts), checked with the config rather than when the pinning fails
// after a boot.
func checkHostCPUs(cpus []int) error {
	set, known := &startCPUs, startCPUsKnown
	for _, c := range cpus {
		switch {
		case c < 0:
			return fielderr.Errorf("host_cpus", "%d: want CPU numbers ≥ 0", c)
		case known && (c >= 8*len(set) || !set.IsSet(c)):
			return fielderr.Errorf("host_cpus", "CPU %d: this host lets ukbench use CPUs %s", c, cpuList(set))
		case !known && c >= runtime.NumCPU():
			return fielderr.Errorf("host_cpus", "CPU %d: this host has CPUs 0 to %d", c, runtime.NumCPU()-1)
		}
	}
	return nil
}

// startCPUs are the CPUs the process could run on when it started: taken
// before any thread is pinned (the experiment pins its generator's
// threads), as runtime.NumCPU is.
var startCPUs, startCPUsKnown = func() (unix.CPUSet, bool) {
	var set unix.CPUSet
	err := unix.SchedGetaffinity(0, &set)
	return set, err == nil
}()

// cpuList writes a CPU set as Linux does: 0-3,6.
func cpuList(set *unix.CPUSet) string {
	var parts []string
	n := 8 * len(set)
	for c := 0; c < n; c++ {
		if !set.IsSet(c) {
			continue
		}
		end := c
		for end+1 < n && set.IsSet(end+1) {
			end++
		}
		if end == c {
			parts = append(parts, fmt.Sprint(c))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", c, end))
		}
		c = end
	}
	return strings.Join(parts, ",")
}
