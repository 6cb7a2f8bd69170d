package targets

import (
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHostCPUsJudgedByTheHostNotThePinnedThread: host_cpus is checked
// against the CPUs the process started with, so a generator thread pinned
// to CPU 0 (as an experiment pins it) does not make CPU 1 "missing".
func TestHostCPUsJudgedByTheHostNotThePinnedThread(t *testing.T) {
	if err := checkHostCPUs([]int{99999}); err == nil || !strings.Contains(err.Error(), "CPU 99999: this host lets ukbench use CPUs 0") {
		t.Errorf("host_cpus [99999]: %v", err)
	}
	if err := checkHostCPUs([]int{-1}); err == nil {
		t.Error("host_cpus [-1] accepted")
	}
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var was, zero unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		t.Skip(err)
	}
	zero.Set(0)
	if err := unix.SchedSetaffinity(0, &zero); err != nil {
		t.Skip(err)
	}
	defer unix.SchedSetaffinity(0, &was)
	if err := checkHostCPUs([]int{0, 1}); err != nil {
		t.Errorf("host_cpus [0, 1] with this thread pinned to CPU 0: %v", err)
	}
}
