package loadgen

import (
	"fmt"
	"time"
)

// The generators' and the sweep's defaults and limits, each defined here
// once. A zero field of DNSConfig, HTTPConfig or SweepConfig takes its
// default; `ukbench load`'s flag defaults and an experiment's workload
// defaults read these same values, so the library, the CLI and the config
// cannot drift apart. DefaultDNSQueries (dnsqueries.go) is the query list.

// DNS generator (DNSConfig).
const (
	// DefaultDNSSockets is DNSConfig.Sockets when 0: UDP sockets, or TCP
	// connections.
	DefaultDNSSockets = 2
	// MaxDNSSockets bounds DNSConfig.Sockets (and an experiment's
	// workloads[].sockets). Each socket is a loop on its own OS thread of
	// the generator's host (a step raises GOMAXPROCS to sockets+1) with an
	// in-flight table of 65536 slots, one per DNS ID (about 2 MiB): the
	// limit bounds threads and memory, not what a server may take. A guest
	// server's sockets have their own, smaller limit
	// (servers.MaxDNSSockets).
	MaxDNSSockets = 1024
	// DefaultDNSTransport is DNSConfig.Transport when "".
	DefaultDNSTransport = TransportUDP
)

// DNS transports (DNSConfig.Transport; `ukbench load dns --transport`; an
// experiment's workloads[].transport).
const (
	TransportUDP = "udp"
	TransportTCP = "tcp" // pipelined queries on persistent connections (RFC 7766)
)

// HTTP generator (HTTPConfig).
const (
	// DefaultConnections is HTTPConfig.Connections when 0.
	DefaultConnections = 32
	// MaxConnections bounds HTTPConfig.Connections (and an experiment's
	// workloads[].connections): file descriptors and event-loop slots on
	// the generator's host.
	MaxConnections = 4096
	// ConnsPerThread: HTTPConfig.Threads left at 0 is one thread per
	// this many connections, at least one (DefaultThreads), as the
	// generator ran before threads could be set.
	ConnsPerThread = 256
	// MaxThreads bounds HTTPConfig.Threads (and an experiment's
	// workloads[].threads, `ukbench load http --threads`). Each thread is a
	// lane (step.go) with its share of the schedule and of the
	// connections: plain http an event loop on its own locked OS thread,
	// https a fasthttp pacer with its workers; a step raises GOMAXPROCS to
	// threads+1. The limit bounds threads on the generator's host, which
	// gains nothing from more lanes than it has CPUs to run them.
	MaxThreads = 256
)

// DefaultTimeout is DNSConfig.Timeout and HTTPConfig.Timeout when 0: a
// request unanswered this long after its send is lost (HTTP: connect
// included).
const DefaultTimeout = 2 * time.Second

// Sweep (SweepConfig) and the callers that build one.
const (
	// DefaultBisectSteps is SweepConfig.BisectSteps when 0.
	DefaultBisectSteps = 5
	// DefaultResolution is SweepConfig.Resolution when 0: the bisection
	// ends when (bad-good)/bad falls below it (a fraction).
	DefaultResolution = 0.02
	// DefaultRetries is the retries `ukbench load` and an experiment give
	// a sweep unless told otherwise. SweepConfig.Retries has no default:
	// its zero means no retry.
	DefaultRetries = 1
	// DefaultRates, DefaultStep and DefaultWarmup are the rates (ParseRates
	// syntax, requests/s), measured window and warm-up per rate of `ukbench
	// load` and of an experiment's workload. SweepConfig has none: a sweep
	// is always told its rates and step.
	DefaultRates  = "1000:10000:1000"
	DefaultStep   = 10 * time.Second
	DefaultWarmup = 2 * time.Second
	// DefaultSeed is the seed of Poisson arrivals of `ukbench load` and of
	// an experiment's workload (a config's Seed has no default: 0 is a seed).
	DefaultSeed = 1
)

// DefaultTimerSlack is the timer slack of pacing threads unless configured:
// Linux's own default. The kernel may wake a sleeper this much late, to
// batch timer interrupts. Less slack sends closer to the intended times,
// and costs more CPU: on a 2-core virtual machine at 40,000 queries/s
// (BENCHMARKS.md) 1 ns slack cost 3.5 s of CPU where 50 µs cost 1.9 s, and
// added ~30 µs less to the median latency. The send delay is always counted
// in latency, which runs from the intended time.
const DefaultTimerSlack = 50 * time.Microsecond

// The host's timer probe (TimerProbe): 1 ms between wake-ups (cyclictest's
// default interval) for 1 s, about 1,000 wake-ups a CPU: enough for a p99,
// short enough to make before every campaign.
const (
	DefaultTimerProbeInterval = time.Millisecond
	DefaultTimerProbe         = time.Second
)

// DefaultLimits are the limits used when none are given (DESIGN.md rule
// 2): a send more than 1 ms late is late, and counted; a step's load was
// delivered when ≥ 99 % of its sends left within the window and their
// inter-arrival times are within 0.05 (Lévy distance, 1 ms tolerance) of
// the schedule's and at most 1 % of them waited more than 1 ms for a free
// connection or ID; a latency percentile is generator-limited when the
// generator's own send delay is more than 10 % of it; the strict
// late-fraction rule is off.
var DefaultLimits = Limits{
	LateAfter: time.Millisecond, MinSentInWindow: 0.99, MaxInterArrivalDistance: 0.05, MaxBlockedFraction: 0.01,
	ResolutionFraction: 0.10, TimerSlack: DefaultTimerSlack,
}

// DefaultCriteria are used when none are given: achieved at least 99 % of
// offered, at most 1 % lost, p99 at most 100 ms.
var DefaultCriteria = Criteria{MinAchieved: 0.99, MaxLoss: 0.01, SLOP99: 100 * time.Millisecond}

// MinStep is the shortest measured window a step (StepSpec.Duration,
// SweepConfig.Step, and so an experiment's workloads[].step or `ukbench
// load --step`) may have. A shorter one cannot measure anything the record
// claims: a send is late after Limits.LateAfter (1 ms), at least 99 % of a
// step's sends must leave within its window, and its inter-arrival check
// tolerates 5 % of gaps off by more than 1 ms, so the window must span at
// least 100 late limits for one scheduler hiccup to stay inside those
// shares; the achieved rate is answers over the window, which one wake-up of
// a pacing thread (tens of µs on a virtual machine) or one scheduler
// quantum (a few ms) would dominate; and a window of a few ns holds no send
// at any rate, which left every figure of the report without data (issue
// 14). At 100 ms a sweep's lowest sensible rate, 10/s, still sends one
// request.
const MinStep = 100 * time.Millisecond

// CheckStepLength checks a measured window against MinStep; an error wraps
// ErrConfig. Config validation (an experiment's workloads, `ukbench load
// --step`) calls it so that a bad step is refused before anything boots;
// StepSpec and SweepConfig check it again.
func CheckStepLength(d time.Duration) error {
	if d < MinStep {
		return fmt.Errorf("%w: step %v: want at least %v (a shorter measured window cannot judge lag or rate)", ErrConfig, d, MinStep)
	}
	return nil
}

// SendGrace is how long after a step's schedule ends (warm-up plus
// measured window) its overdue sends may still leave. The step then ends
// whatever was due: the sends that never left are counted
// (results.Step.NeverSent) and make the step invalid, because the schedule
// was not delivered. The grace keeps the last sends of a schedule that was
// kept, a few µs late as any send may be, from counting as never sent; it
// is far shorter than any step (MinStep), so a generator that cannot keep
// up is cut at once instead of sending a backlog for minutes.
const SendGrace = 50 * time.Millisecond

// DefaultThreads is HTTPConfig.Threads when 0 for that many connections:
// one thread per ConnsPerThread, at least one.
func DefaultThreads(connections int) int {
	return max(1, (connections+ConnsPerThread-1)/ConnsPerThread)
}

// CheckThreads checks an HTTP generator's threads against MaxThreads and
// its connections (each thread needs one at least); errors wrap ErrConfig
// and name the setting. NewHTTP, `ukbench load --threads` and an
// experiment's workloads[].threads all check with it.
func CheckThreads(threads, connections int) error {
	switch {
	case threads < 1 || threads > MaxThreads:
		return fmt.Errorf("%w: threads %d: want 1 to %d", ErrConfig, threads, MaxThreads)
	case threads > connections:
		return fmt.Errorf("%w: threads %d: more than the %d connections (each thread needs one at least)", ErrConfig, threads, connections)
	}
	return nil
}

// countOrDefault is a generator's count setting (sockets, connections,
// threads): n,
// or def when n is 0 (the Go zero value: not set), which must be 1 to max.
// Errors wrap ErrConfig and name the setting.
func countOrDefault(what string, n, def, max int) (int, error) {
	if n == 0 {
		n = def
	}
	if n < 1 || n > max {
		return 0, fmt.Errorf("%w: %s %d: want 1 to %d", ErrConfig, what, n, max)
	}
	return n, nil
}

// timeoutOrDefault is a generator's answer timeout: d, or DefaultTimeout
// when d is 0; a negative one wraps ErrConfig.
func timeoutOrDefault(d time.Duration) (time.Duration, error) {
	if d == 0 {
		d = DefaultTimeout
	}
	if d < 0 {
		return 0, fmt.Errorf("%w: timeout %v must be positive", ErrConfig, d)
	}
	return d, nil
}
