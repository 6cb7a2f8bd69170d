// Package results defines the run record and result-directory format that
// every part of ukbench shares (see DESIGN.md, "Result format"). Field names
// are the contract: fields may be added, never renamed.
package results

import (
	"fmt"
	"slices"
	"time"
)

// AccelNone is the accelerator of a run that booted no guest (a native
// target, an external server).
const AccelNone = "none"

// Run is one finished run: one target × workload × repeat. It is written as
// one line of runs.jsonl. A run that failed part-way keeps the steps it
// finished and says why in Error.
type Run struct {
	Target   string `json:"target"`
	Workload string `json:"workload"`
	Repeat   int    `json:"repeat"`
	Accel    string `json:"accel"` // "kvm", "tcg", or AccelNone for native and external servers
	// AccelReason says why Accel was chosen (the KVM probe's verdict, or
	// "tcg asked for").
	AccelReason string    `json:"accel_reason,omitempty"`
	Started     time.Time `json:"started"`
	Ended       time.Time `json:"ended,omitempty"`
	// TimerNoise is the probe of the host's timer wake-up delay on the
	// generator's CPUs made before the run's load (its campaign's, or
	// `ukbench load --timer-probe`'s), when one was made.
	TimerNoise *TimerNoise `json:"timer_noise,omitempty"`
	Boot       *Boot       `json:"boot,omitempty"`
	Memory     *Memory     `json:"memory,omitempty"`
	// Load describes how the load was generated, so a reader can tell two
	// sweeps apart without the manifest.
	Load  *LoadInfo `json:"load,omitempty"`
	Steps []Step    `json:"steps"`
	// Hist is the directory, relative to the result directory, holding
	// this run's per-step latency histograms: step-NNN-RATErps.hlog, NNN
	// the step's 1-based index in Steps.
	Hist string `json:"hist,omitempty"`
	// ConsoleLog is the guest console or server output, relative to the
	// result directory.
	ConsoleLog        string  `json:"console_log,omitempty"`
	MaxSustainableRPS float64 `json:"max_sustainable_rps"`
	// MaxSustainableBound is the sweep's own answer to whether a failing
	// step bounds MaxSustainableRPS from above; false means the server
	// kept up with every rate tried, so the maximum is at least
	// MaxSustainableRPS. Records written before this field lack it: read
	// it through MaxBounded.
	MaxSustainableBound *bool  `json:"max_sustainable_bound,omitempty"`
	Error               string `json:"error"`
}

// MaxBounded says whether MaxSustainableRPS is bounded from above by a
// failing step: MaxSustainableBound, or, in a record written before that
// field, whether any step missed the criteria (which takes a rate that
// failed once and held on its retry for a bound).
func (r Run) MaxBounded() bool {
	if r.MaxSustainableBound != nil {
		return *r.MaxSustainableBound
	}
	for _, s := range r.Steps {
		if !s.Sustainable {
			return true
		}
	}
	return false
}

// Boot holds the boot figures of one guest (or native server), in
// milliseconds from when the guest starts to run: QEMU's (or the
// server's) exec; under libvirt the resume of the domain, which is
// created paused.
type Boot struct {
	// QEMUStartMS is exec to QMP answering; under libvirt
	// DomainCreateXML to QMP answering, a part of LaunchMS. 0 for a
	// native server.
	QEMUStartMS    float64 `json:"qemu_start_ms"`
	ConsoleReadyMS float64 `json:"console_ready_ms"`
	FirstAnswerMS  float64 `json:"first_answer_ms"`
	// LaunchMS is what comes before the guest runs: from the start of
	// the boot (image found, ports chosen, files written) to QEMU's
	// exec; under libvirt to the resume, so it includes libvirt's domain
	// start and the console and QMP setup while the guest is paused.
	LaunchMS float64 `json:"launch_ms,omitempty"`
	// Path is how a Linux guest's kernel booted: "pvh" (the uncompressed
	// kernel through its PVH entry, no firmware) or "bzimage" (through
	// SeaBIOS and the kernel's decompressor); "" for other targets.
	Path string `json:"boot_path,omitempty"`
}

// Memory holds QEMU's resident memory in KiB.
type Memory struct {
	QEMURSSKiB      int64 `json:"qemu_rss_kib"`
	QEMUHWMKiB      int64 `json:"qemu_hwm_kib,omitempty"`
	QEMURSSAfterKiB int64 `json:"qemu_rss_after_load_kib,omitempty"`
}

// LoadInfo records the generator settings of a run.
type LoadInfo struct {
	Server    string `json:"server"`
	Transport string `json:"transport,omitempty"` // DNS: udp or tcp
	Arrivals  string `json:"arrivals"`
	Workers   int    `json:"workers"` // DNS sockets or HTTP connections
	// Threads is the lanes the load ran on, each with its share of the
	// schedule and of the workers: HTTP threads (--threads, workloads[].threads),
	// DNS one per socket. Records written before this field lack it (one
	// thread per 256 HTTP connections then).
	Threads     int     `json:"threads,omitempty"`
	NewConn     bool    `json:"new_connection,omitempty"`
	TimeoutMS   float64 `json:"timeout_ms"`
	WarmupS     float64 `json:"warmup_s"`
	SLOP99US    float64 `json:"slo_p99_us,omitempty"`
	MaxLoss     float64 `json:"max_loss"`
	LateAfterUS float64 `json:"late_after_us"`
	MaxLateFrac float64 `json:"max_late_fraction"` // 0: the strict late-fraction rule is off
	// ResolutionFraction: a latency percentile is generator-limited when
	// the generator's own send delay at it is more than this fraction.
	ResolutionFraction float64 `json:"resolution_fraction,omitempty"`
	// The load-delivered verdict's limits (DESIGN.md rule 2): the least
	// share of sends within the window, the largest inter-arrival
	// distance, the largest share of sends blocked past the late limit.
	MinSentInWindow         float64 `json:"min_sent_in_window,omitempty"`
	MaxInterArrivalDistance float64 `json:"max_interarrival_distance,omitempty"`
	MaxBlockedFraction      float64 `json:"max_blocked_fraction,omitempty"`
	TimerSlackUS            float64 `json:"timer_slack_us"`
	// Agents are the hosts that made the load (ukbench agent over SSH);
	// empty when this process made it alone.
	Agents []AgentInfo `json:"agents,omitempty"`
}

// Step is the record of one offered rate.
type Step struct {
	OfferedRPS float64 `json:"offered_rps"`
	DurationS  float64 `json:"duration_s"`
	Sent       uint64  `json:"sent"`
	// NeverSent counts the measured window's requests that were due but
	// had not left when the step ended at its deadline (a rate the
	// generator cannot send); Sent + NeverSent is what the schedule held.
	// A step with any is invalid: its load was not delivered.
	NeverSent   uint64  `json:"never_sent"`
	Answered    uint64  `json:"answered"`
	AchievedRPS float64 `json:"achieved_rps"`
	// Errors counts failed requests by kind: "timeout", "send", "malformed",
	// "mismatch", "rcode_SERVFAIL", "status_503", "connect", ….
	Errors map[string]uint64 `json:"errors"`
	// Codes counts every answer by DNS rcode name or HTTP status, errors included.
	Codes         map[string]uint64 `json:"codes,omitempty"`
	Valid         bool              `json:"valid"`
	InvalidReason string            `json:"invalid_reason,omitempty"`
	Lag           Lag               `json:"lag"`
	// LatencyUS is measured from the intended send time (what a client
	// waiting in line sees); ServiceUS from the actual send.
	LatencyUS Latency `json:"latency_us"`
	ServiceUS Latency `json:"service_us"`
	// SendDelayUS is the generator's own send delay (actual − intended
	// send time) of the measured sends that did not wait for a free
	// connection or ID (those are Lag.Blocked), in microseconds.
	SendDelayUS Latency `json:"send_delay_us"`
	// GeneratorLimited names the LatencyUS percentiles ("p50", "p90",
	// "p99", "p999", "max") at which the generator's own send delay is a
	// material share of the latency (DESIGN.md rule 2, latency
	// resolution): each is still reported, as an upper bound of the
	// server's.
	GeneratorLimited []string `json:"generator_limited,omitempty"`
	// Phase is "sweep" for a listed rate and "bisect" for a rate the
	// maximum-rate search chose.
	Phase string `json:"phase,omitempty"`
	// Sustainable says whether the step met the sustainability criteria
	// (DESIGN.md rule 4) of the run.
	Sustainable bool `json:"sustainable"`
	// NotSustainableReason says which criterion a step that is not
	// Sustainable missed.
	NotSustainableReason string `json:"not_sustainable_reason,omitempty"`
	// Agents are the agents' own records of a step that several agents
	// made (issue 18), beside this merged one; empty for a local step.
	Agents []AgentStep `json:"agents,omitempty"`
}

// Lag counts how far the generator fell behind its schedule.
type Lag struct {
	// LateSends counts measured sends that left later than the late limit
	// after their intended time, whatever the cause.
	LateSends uint64 `json:"late_sends"`
	// MaxLateUS is the largest send delay seen, in microseconds.
	MaxLateUS float64 `json:"max_late_us"`
	// Blocked counts sends that waited because no socket ID or connection
	// was free at their intended time, or that queued behind such a send
	// (a subset of the causes of LateSends).
	Blocked uint64 `json:"blocked,omitempty"`
	// LateBlocked counts the late sends that were also Blocked: late
	// because the server held every connection, not because the generator
	// was slow to send.
	LateBlocked uint64 `json:"late_blocked,omitempty"`
	// SentInWindow counts the measured sends that left by the end of the
	// measured window; the rest left in the grace after it (the load
	// delivered verdict, DESIGN.md rule 2).
	SentInWindow uint64 `json:"sent_in_window"`
	// InterArrivalDistance is how far the sends' actual inter-arrival
	// times are from the schedule's: the Lévy distance between the two
	// distributions with the late limit as its tolerance in time, 0 (the
	// schedule's) to 1.
	InterArrivalDistance float64 `json:"interarrival_distance"`
}

// The percentiles of a Latency, by the names GeneratorLimited uses.
var LatencyPercentiles = []string{"p50", "p90", "p99", "p999", "max"}

// Percentile returns the percentile named as in LatencyPercentiles, and
// whether the name is one.
func (l Latency) Percentile(name string) (float64, bool) {
	switch name {
	case "p50":
		return l.P50, true
	case "p90":
		return l.P90, true
	case "p99":
		return l.P99, true
	case "p999":
		return l.P999, true
	case "max":
		return l.Max, true
	}
	return 0, false
}

// IsGeneratorLimited reports whether the step's latency percentile name
// is flagged generator-limited.
func (s Step) IsGeneratorLimited(name string) bool {
	return slices.Contains(s.GeneratorLimited, name)
}

// Latency holds percentiles in microseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// HistFileName is the name of step n's (1-based) histogram log in a run's
// Hist directory.
func HistFileName(n int, offeredRPS float64) string {
	return fmt.Sprintf("step-%03d-%.0frps.hlog", n, offeredRPS)
}

// LossFraction is the fraction of measured requests that got no good answer.
func (s Step) LossFraction() float64 {
	if s.Sent == 0 {
		return 1
	}
	if s.Answered >= s.Sent {
		return 0
	}
	return float64(s.Sent-s.Answered) / float64(s.Sent)
}
