package targets

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHostCPUsJudgedByTheHostNotThePinnedThread: host_cpus is checked
// against the CPUs the process started with, so a generator thread pinned
// to CPU 0 (as an experiment pins it) does not make CPU 1 "missing".
func TestHostCPUsJudgedByTheHostNotThePinnedThread(t *testing.T) {
	if err := CheckHostCPUs("host_cpus", []int{99999}); err == nil || !strings.Contains(err.Error(), "CPU 99999: this host lets ukbench use CPUs 0") {
		t.Errorf("host_cpus [99999]: %v", err)
	}
	if err := CheckHostCPUs("host_cpus", []int{-1}); err == nil {
		t.Error("host_cpus [-1] accepted")
	}
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var was, zero unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		skipOrFail(t, fmt.Sprintf("cannot read this thread's CPU mask: %v", err))
	}
	zero.Set(0)
	if err := unix.SchedSetaffinity(0, &zero); err != nil {
		skipOrFail(t, fmt.Sprintf("cannot pin this thread to CPU 0: %v", err))
	}
	defer unix.SchedSetaffinity(0, &was)
	if err := CheckHostCPUs("host_cpus", []int{0, 1}); err != nil {
		t.Errorf("host_cpus [0, 1] with this thread pinned to CPU 0: %v", err)
	}
}

// TestUsableCPUsFollowTheStartMask: a non-contiguous start mask (taskset,
// a cpuset) is what ukbench may use, and what CheckHostCPUs judges by.
func TestUsableCPUsFollowTheStartMask(t *testing.T) {
	defer func(s unix.CPUSet, k bool) { startCPUs, startCPUsKnown = s, k }(startCPUs, startCPUsKnown)
	var set unix.CPUSet
	set.Set(2)
	set.Set(3)
	set.Set(5)
	startCPUs, startCPUsKnown = set, true
	if got := UsableCPUs(); len(got) != 3 || got[0] != 2 || got[1] != 3 || got[2] != 5 {
		t.Errorf("UsableCPUs = %v, want [2 3 5]", got)
	}
	if err := CheckHostCPUs("placement.load_cpus", []int{0}); err == nil || !strings.Contains(err.Error(), "placement.load_cpus: CPU 0: this host lets ukbench use CPUs 2-3,5") {
		t.Errorf("CPU 0 outside the mask: %v", err)
	}
	if err := CheckHostCPUs("host_cpus", []int{3, 5}); err != nil {
		t.Errorf("CPUs inside the mask: %v", err)
	}
}
