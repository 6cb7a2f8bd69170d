package vm

import (
	"fmt"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// StartPinned starts cmd confined to the given host CPUs (none: no
// confinement). It forks from a thread whose affinity is set first, so the
// process and every thread it makes later inherit the set — setting the
// affinity of a running process would miss threads it already has. The
// thread's affinity is restored afterwards; the thread must not exit, as a
// child started with Pdeathsig dies when the thread that forked it ends.
func StartPinned(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("pin to host CPUs %v: %w", cpus, err)
	}
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("pin to host CPUs %v: %w", cpus, err)
	}
	startErr := cmd.Start()
	if err := unix.SchedSetaffinity(0, &old); err != nil {
		// Restoring the mask this thread had cannot fail once setting one
		// succeeded; if it does, stop loudly rather than leave Go code
		// running on a pinned thread.
		panic(fmt.Sprintf("restore CPU affinity: %v", err))
	}
	runtime.UnlockOSThread()
	return startErr
}
