package results

import "fmt"

// TimerNoise is what a probe of the host's timer wake-up delay found on
// the generator's CPUs before the load ran (DESIGN.md rule 2): how late a
// thread that sleeps as the generator's pacing threads do wakes after the
// time it asked for, after cyclictest's method.
type TimerNoise struct {
	// CPUs are the CPUs probed, one thread pinned to each.
	CPUs []int `json:"cpus"`
	// IntervalUS is the time between wake-ups asked for, DurationS the
	// probe's length, TimerSlackUS the threads' timer slack.
	IntervalUS   float64 `json:"interval_us"`
	DurationS    float64 `json:"duration_s"`
	TimerSlackUS float64 `json:"timer_slack_us"`
	// Wakeups counts the wake-ups measured, over all CPUs.
	Wakeups uint64 `json:"wakeups"`
	// LateUS: how late the threads woke, percentiles over all CPUs, in
	// microseconds.
	LateUS Latency `json:"late_us"`
	// PerCPU gives each CPU's own p99 and maximum.
	PerCPU []CPUTimerNoise `json:"per_cpu,omitempty"`
}

// CPUTimerNoise is one CPU's share of a TimerNoise probe, in microseconds.
type CPUTimerNoise struct {
	CPU   int     `json:"cpu"`
	P99US float64 `json:"p99_us"`
	MaxUS float64 `json:"max_us"`
}

// String says in one line what the probe found.
func (n TimerNoise) String() string {
	return fmt.Sprintf("host timers on CPUs %v wake late by p50 %.0f µs, p99 %.0f µs, max %.0f µs (%d wake-ups over %.1f s, slack %.0f µs)",
		n.CPUs, n.LateUS.P50, n.LateUS.P99, n.LateUS.Max, n.Wakeups, n.DurationS, n.TimerSlackUS)
}
