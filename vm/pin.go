package vm

import (
	"fmt"
	"os/exec"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// StartPinned starts cmd, confined to the given host CPUs (none: not
// confined), from the spawner thread.
//
// Every child process ukbench starts asks the kernel for a parent-death
// signal (Pdeathsig), so that it dies with ukbench even on SIGKILL. The
// kernel sends that signal when the *thread* that forked the child exits,
// and Go ends a thread whenever a goroutine exits while locked to it (the
// DNS generator's pacing loops do). So children are forked from one thread
// that lives as long as the process: the spawner goroutine, locked to its
// thread and never returning. Pinning happens there too: the spawner
// thread's affinity is set before the fork, so the child and every thread
// it makes later inherit the set (setting a running process's affinity
// would miss threads it already has), and restored after.
func StartPinned(cmd *exec.Cmd, cpus []int) error {
	spawnOnce.Do(func() { go spawner() })
	req := spawnRequest{cmd: cmd, cpus: cpus, done: make(chan error, 1)}
	spawnc <- req
	return <-req.done
}

type spawnRequest struct {
	cmd  *exec.Cmd
	cpus []int
	done chan error
}

var (
	spawnOnce sync.Once
	spawnc    = make(chan spawnRequest)
)

func spawner() {
	runtime.LockOSThread() // never unlocked: this thread must outlive every child
	for req := range spawnc {
		req.done <- spawn(req.cmd, req.cpus)
	}
}

func spawn(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fmt.Errorf("pin to host CPUs %v: %w", cpus, err)
	}
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to host CPUs %v: %w", cpus, err)
	}
	err := cmd.Start()
	if rerr := unix.SchedSetaffinity(0, &old); rerr != nil && err == nil {
		err = fmt.Errorf("restore the spawner's CPU affinity: %w", rerr)
	}
	return err
}
