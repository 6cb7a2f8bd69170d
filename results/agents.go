package results

// AgentStep is one agent's own record of a step that several agents made
// together (ukbench agent over SSH, issue 18), kept in Step.Agents beside
// the merged step. Its Step fields are the agent's own share: its offered
// rate, its counts, its verdicts, and percentiles of its own histograms
// (each timed on the agent's own monotonic clock from its own intended
// sends). Its Agents field is empty.
type AgentStep struct {
	// Agent names the agent as configured (user@host, or an alias of
	// ~/.ssh/config).
	Agent string `json:"agent"`
	// Role is "load" (the default, left out) or "probe".
	Role string `json:"role,omitempty"`
	// Error says why the agent gave no result for the step (its
	// connection was lost, it failed), "" when it gave one.
	Error string `json:"error,omitempty"`
	// Clock is the agent's clock offset as estimated just before the step.
	Clock *ClockOffset `json:"clock,omitempty"`
	// StartSkewUS is how long after the agreed instant, on its own clock,
	// the agent's step clock started, in microseconds.
	StartSkewUS float64 `json:"start_skew_us,omitempty"`
	Step
}

// ClockOffset is an agent's wall-clock offset from the coordinator's,
// estimated NTP-style over the control channel: the agent's clock read
// OffsetUS ahead of the coordinator's, within ±BoundUS (half the round
// trip of the best of Samples exchanges). No latency is timed across
// clocks: the offset only places the agents' start instants and is kept
// for the record.
type ClockOffset struct {
	OffsetUS float64 `json:"offset_us"`
	BoundUS  float64 `json:"bound_us"`
	RTTUS    float64 `json:"rtt_us"`
	Samples  int     `json:"samples"`
}

// AgentInfo describes one agent of a run's load (LoadInfo.Agents).
type AgentInfo struct {
	Agent string `json:"agent"`
	Role  string `json:"role,omitempty"`
	// Host is the agent's own host name, as it said in its hello.
	Host string `json:"host,omitempty"`
	// CPUs is the CPU list the agent was placed on ("" for all), and
	// NumCPU the CPUs it could use.
	CPUs   string `json:"cpus,omitempty"`
	NumCPU int    `json:"num_cpu,omitempty"`
	// Weight is its share of the load's lanes (each lane carries the same
	// rate); Lanes its lanes.
	Weight int `json:"weight,omitempty"`
	Lanes  int `json:"lanes,omitempty"`
	// BinarySHA256 is the SHA-256 of the ukbench binary the agent ran;
	// Copied says whether the coordinator copied it there for this run
	// (the remote's differed or was missing).
	BinarySHA256 string `json:"binary_sha256,omitempty"`
	Copied       bool   `json:"copied,omitempty"`
	// Protocol is the agent protocol version spoken.
	Protocol int `json:"protocol,omitempty"`
	// TimerNoise is what the agent's probe of its host's timers found as
	// it started, when one was asked for (the load's timers are the
	// agents', not the coordinator's).
	TimerNoise *TimerNoise `json:"timer_noise,omitempty"`
}
