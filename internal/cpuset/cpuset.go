// Package cpuset parses Linux CPU lists ("0-3,6") and confines the whole
// process to one.
package cpuset

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrList is wrapped by every error of a malformed CPU list.
var ErrList = errors.New("bad CPU list")

// maxCPU bounds a CPU number (unix.CPUSet holds 1024).
const maxCPU = 1023

// Parse reads a CPU list as Linux writes one (taskset -c, cpuset.cpus):
// comma-separated numbers and ranges, "0-3,6". Ascending, without
// repeats; "" is an empty list (no placement).
func Parse(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var set unix.CPUSet
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b > maxCPU {
			return nil, fmt.Errorf("%w %q: want numbers and ranges such as 0-3,6 (CPUs 0 to %d)", ErrList, s, maxCPU)
		}
		for c := a; c <= b; c++ {
			set.Set(c)
		}
	}
	return list(&set), nil
}

// PinProcess confines every thread of this process to cpus; threads made
// later inherit it from the thread that makes them. It returns a function
// that restores the affinity the calling thread had. An empty list pins
// nothing.
func PinProcess(cpus []int) (restore func(), err error) {
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
	if err := ForEachThread(func(tid int) error { return unix.SchedSetaffinity(tid, &set) }); err != nil {
		return nil, fmt.Errorf("pin to CPUs %v: %w", cpus, err)
	}
	return func() { ForEachThread(func(tid int) error { return unix.SchedSetaffinity(tid, &old) }) }, nil
}

// Current lists the CPUs the calling thread may run on, ascending.
func Current() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("CPU affinity: %w", err)
	}
	return list(&set), nil
}

// ForEachThread calls f with the ID of each thread of this process; a thread that
// ended meanwhile is passed over.
func ForEachThread(f func(tid int) error) error {
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

// list is the CPUs of set, ascending.
func list(set *unix.CPUSet) []int {
	var cpus []int
	for c := 0; c <= maxCPU; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}
