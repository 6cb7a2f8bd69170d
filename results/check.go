package results

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ukbench/ukbench/internal/fielderr"
)

// ErrImplausible is wrapped by every error of the checks below: a record
// holds what no run can measure (a negative or infinite rate, more answers
// than sends, more sends than its schedule held, percentiles out of
// order). Such a record is refused, never believed: the error names the
// field (a *fielderr.Error in the chain) and what was expected.
var ErrImplausible = errors.New("implausible result")

// MaxLatencyUS bounds every latency figure of a record (latency, service
// time, send delay, a timer probe's lateness), in microseconds: the
// generator's histograms record up to 100 s (a longer time is recorded as
// 100 s), and a percentile read from one is the top of its bucket, less
// than 0.1 % above the value (3 significant digits).
const MaxLatencyUS = 100_000_000 * 1.001

// Schedule margin: a step's sends are compared with what its schedule
// held, offered × duration = n, within ±(scheduleSigmas·√n + scheduleSlack).
// A Poisson schedule's count over the window is Poisson(n), whose standard
// deviation is √n: ten of them put a real step outside with a probability
// below 1e-20. The constant covers small n (a Poisson(1) count above 21 is
// as unlikely), a constant schedule's edges (one send either way) and
// rounding.
const (
	scheduleSigmas = 10
	scheduleSlack  = 10
)

// ScheduleBounds are the least and most sends a schedule of offeredRPS
// over durationS seconds can hold (see the margin above); extra widens
// both by that many sends, for a share of a schedule split among senders
// (CheckShare).
func ScheduleBounds(offeredRPS, durationS float64, extra int) (lo, hi float64) {
	n := offeredRPS * durationS
	m := scheduleSigmas*math.Sqrt(n) + scheduleSlack + float64(max(extra, 0))
	return n - m, n + m
}

// achievedSlack is the relative float error allowed between a step's
// achieved rate and its answers over its window (a merged step sums each
// agent's quotient).
const achievedSlack = 1e-9

// datagramErrors are the error kinds that count datagrams the server sent
// rather than requests (an answer to a query no longer in flight, an
// answer matching none, a datagram that is no DNS answer): a server may
// send more of them than it was sent requests. Every other kind counts
// requests and is at most Sent.
var datagramErrors = []string{"late_answer", "mismatch", "malformed"}

// CheckStep checks the record of a step that ran a whole schedule (one
// generator, or the merge of every agent's share). The error wraps
// ErrImplausible and names the field; nil when the step is plausible.
//
// What must hold: every figure finite and not negative; offered rate and
// window above 0; answered ≤ sent; sent + never sent within the schedule
// (ScheduleBounds), and a valid step sent its schedule (no never-sent, at
// least the schedule's least); achieved ≤ answered / window; each
// request's error and code count ≤ sent; lag counts ≤ sent; latency
// percentiles in order (p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ max, mean ≤ max) and at
// most MaxLatencyUS; the inter-arrival distance within 0…1; a sustainable
// step valid. Of the agents' records in it (Step.Agents), only that their
// figures are finite: CheckRun, which knows their lanes, checks them.
func CheckStep(s Step) error {
	return implausible(checkStep(s, 0))
}

// CheckShare is CheckStep for the record of one sender's share of a
// schedule split among several (an agent's): its sends may stray from its
// own rate × window by up to extra more than a whole schedule's, one per
// lane it ran (each lane of a constant schedule may hold one send more or
// fewer than its rate × window).
func CheckShare(s Step, extra int) error {
	return implausible(checkStep(s, float64(max(extra, 0))))
}

func implausible(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrImplausible, err)
}

// noSchedule, as checkStep's extra, leaves the schedule bounds unchecked.
var noSchedule = math.Inf(1)

// checkStep is CheckStep with extra sends allowed either side of the
// schedule (noSchedule: unchecked). The error is a *fielderr.Error.
func checkStep(s Step, extra float64) error {
	if err := checkFigures(s); err != nil {
		return err
	}
	if !(s.OfferedRPS > 0) {
		return fielderr.Errorf("offered_rps", "%v: want a rate above 0", s.OfferedRPS)
	}
	if !(s.DurationS > 0) {
		return fielderr.Errorf("duration_s", "%v: want a measured window above 0 s", s.DurationS)
	}
	if s.Answered > s.Sent {
		return fielderr.Errorf("answered", "%d: more than the %d sent", s.Answered, s.Sent)
	}
	if !math.IsInf(extra, 1) {
		lo, hi := ScheduleBounds(s.OfferedRPS, s.DurationS, 0)
		lo, hi = lo-extra, hi+extra
		held := float64(s.Sent) + float64(s.NeverSent)
		if held > hi {
			return fielderr.Errorf("sent", "%d sent + %d never sent: more than the %.0f a schedule of %v/s over %v s can hold",
				s.Sent, s.NeverSent, math.Floor(hi), s.OfferedRPS, s.DurationS)
		}
		if s.Valid && float64(s.Sent) < lo {
			return fielderr.Errorf("sent", "%d: fewer than the %.0f a schedule of %v/s over %v s holds, in a step that says it delivered its schedule (valid)",
				s.Sent, math.Ceil(lo), s.OfferedRPS, s.DurationS)
		}
	}
	if s.Valid && s.NeverSent > 0 {
		return fielderr.Errorf("valid", "true with %d never sent: a step whose schedule was not sent is invalid", s.NeverSent)
	}
	if s.Valid && s.Sent == 0 {
		return fielderr.Errorf("valid", "true with nothing sent: a step that sent nothing is invalid")
	}
	if s.Sustainable && !s.Valid {
		return fielderr.Errorf("sustainable", "true in an invalid step")
	}
	if limit := float64(s.Answered) / s.DurationS; s.AchievedRPS > limit*(1+achievedSlack)+achievedSlack {
		return fielderr.Errorf("achieved_rps", "%v: more than the %d answers over %v s (%v/s)", s.AchievedRPS, s.Answered, s.DurationS, limit)
	}
	if err := checkCounts("errors", s.Errors, s.Sent, datagramErrors); err != nil {
		return err
	}
	if err := checkCounts("codes", s.Codes, s.Sent, nil); err != nil {
		return err
	}
	if err := checkLag(s.Lag, s.Sent); err != nil {
		return fielderr.In(err, "lag")
	}
	for _, l := range []struct {
		field string
		l     Latency
	}{{"latency_us", s.LatencyUS}, {"service_us", s.ServiceUS}, {"send_delay_us", s.SendDelayUS}} {
		if err := checkLatency(l.l); err != nil {
			return fielderr.In(err, l.field)
		}
	}
	for _, name := range s.GeneratorLimited {
		if !slices.Contains(LatencyPercentiles, name) {
			return fielderr.Errorf("generator_limited", "%q: want one of %v", name, LatencyPercentiles)
		}
	}
	return nil
}

// checkFigures checks that every float of s, its agents' records
// included, is finite and that those that cannot be negative are not.
// Clock offsets and start skews may be negative.
func checkFigures(s Step) error {
	if path, v, ok := firstNonFinite(&s); ok {
		return fielderr.Errorf(path, "%v: want a finite number", v)
	}
	for _, f := range []struct {
		field string
		v     float64
	}{
		{"offered_rps", s.OfferedRPS}, {"duration_s", s.DurationS}, {"achieved_rps", s.AchievedRPS},
		{"lag.max_late_us", s.Lag.MaxLateUS}, {"lag.interarrival_distance", s.Lag.InterArrivalDistance},
	} {
		if f.v < 0 {
			return fielderr.Errorf(f.field, "%v: want 0 or more", f.v)
		}
	}
	return nil
}

// checkCounts checks that each count of m, but those of the kinds in
// unbounded, is at most sent: it counts requests sent.
func checkCounts(field string, m map[string]uint64, sent uint64, unbounded []string) error {
	for k, v := range m {
		if v > sent && !slices.Contains(unbounded, k) {
			return fielderr.Errorf(field+"."+k, "%d: more than the %d requests sent", v, sent)
		}
	}
	return nil
}

func checkLag(l Lag, sent uint64) error {
	for _, c := range []struct {
		field string
		v     uint64
	}{{"late_sends", l.LateSends}, {"blocked", l.Blocked}, {"sent_in_window", l.SentInWindow}} {
		if c.v > sent {
			return fielderr.Errorf(c.field, "%d: more than the %d sent", c.v, sent)
		}
	}
	if l.LateBlocked > min(l.LateSends, l.Blocked) {
		return fielderr.Errorf("late_blocked", "%d: more than the late sends (%d) or the blocked ones (%d)", l.LateBlocked, l.LateSends, l.Blocked)
	}
	if l.InterArrivalDistance > 1 {
		return fielderr.Errorf("interarrival_distance", "%v: want 0 to 1", l.InterArrivalDistance)
	}
	return nil
}

// checkLatency checks percentiles that a histogram gave: not negative, in
// order, within MaxLatencyUS, the mean at most the maximum.
func checkLatency(l Latency) error {
	prev, prevName := 0.0, ""
	for _, name := range LatencyPercentiles {
		v, _ := l.Percentile(name)
		switch {
		case v < 0:
			return fielderr.Errorf(name, "%v: want 0 or more", v)
		case v < prev:
			return fielderr.Errorf(name, "%v: below %s (%v): percentiles out of order", v, prevName, prev)
		case v > MaxLatencyUS:
			return fielderr.Errorf(name, "%v µs: more than the %v µs a latency histogram holds", v, MaxLatencyUS)
		}
		prev, prevName = v, name
	}
	if l.Mean < 0 || l.Mean > l.Max {
		return fielderr.Errorf("mean", "%v: want 0 to the maximum (%v)", l.Mean, l.Max)
	}
	return nil
}

// CheckRun checks a run record: every float finite, the figures that
// cannot be negative not negative (boot, memory, load settings, timer
// probes, the maximum sustainable rate), each step as CheckStep (a step
// several agents made with one extra send allowed per agent), and each
// agent's own record of a step as CheckShare with the lanes LoadInfo
// gives it (an agent record that says the agent gave no result is not
// checked further). The error wraps ErrImplausible and names the field
// (steps[2].latency_us.p99).
func CheckRun(r Run) error {
	return implausible(checkRun(r))
}

// checkBoot checks that no boot figure is negative.
func checkBoot(b Boot) error {
	for _, f := range []struct {
		field string
		v     float64
	}{{"qemu_start_ms", b.QEMUStartMS}, {"console_ready_ms", b.ConsoleReadyMS}, {"first_answer_ms", b.FirstAnswerMS}, {"launch_ms", b.LaunchMS}} {
		if f.v < 0 {
			return fielderr.Errorf(f.field, "%v: want 0 or more", f.v)
		}
	}
	return nil
}

// checkMemory checks that no memory figure is negative.
func checkMemory(m Memory) error {
	for _, f := range []struct {
		field string
		v     int64
	}{{"qemu_rss_kib", m.QEMURSSKiB}, {"qemu_hwm_kib", m.QEMUHWMKiB}, {"qemu_rss_after_load_kib", m.QEMURSSAfterKiB}} {
		if f.v < 0 {
			return fielderr.Errorf(f.field, "%v: want 0 or more", f.v)
		}
	}
	return nil
}

func checkRun(r Run) error {
	if path, v, ok := firstNonFinite(&r); ok {
		return fielderr.Errorf(path, "%v: want a finite number", v)
	}
	if r.MaxSustainableRPS < 0 {
		return fielderr.Errorf("max_sustainable_rps", "%v: want 0 or more", r.MaxSustainableRPS)
	}
	if r.Boot != nil {
		if err := checkBoot(*r.Boot); err != nil {
			return fielderr.In(err, "boot")
		}
	}
	if r.Memory != nil {
		if err := checkMemory(*r.Memory); err != nil {
			return fielderr.In(err, "memory")
		}
	}
	if r.TimerNoise != nil {
		if err := checkTimerNoise(*r.TimerNoise); err != nil {
			return fielderr.In(err, "timer_noise")
		}
	}
	if r.Load != nil {
		if err := checkLoadInfo(*r.Load); err != nil {
			return fielderr.In(err, "load")
		}
	}
	lanes := agentLanes(r.Load)
	for i, s := range r.Steps {
		if err := checkStep(s, float64(len(s.Agents))); err != nil {
			return fielderr.In(err, "steps", fielderr.Index(i))
		}
		for j, a := range s.Agents {
			if err := checkAgentStep(a, lanes); err != nil {
				return fielderr.In(err, "steps", fielderr.Index(i), "agents", fielderr.Index(j))
			}
		}
	}
	return nil
}

// checkAgentStep checks an agent's own record of a step: an agent that
// gave no result (Error) has none to check; the schedule bound applies
// when the agent's lanes are known.
func checkAgentStep(a AgentStep, lanes map[string]int) error {
	if c := a.Clock; c != nil && (c.BoundUS < 0 || c.RTTUS < 0 || c.Samples < 0) {
		return fielderr.Errorf("clock", "bound %v µs, round trip %v µs, %d samples: want 0 or more", c.BoundUS, c.RTTUS, c.Samples)
	}
	if a.Error != "" {
		return nil
	}
	extra := noSchedule
	if n, ok := lanes[a.Agent]; ok && n > 0 {
		extra = float64(n)
	}
	return checkStep(a.Step, extra)
}

// CheckLoadInfo checks a record's generator settings: every float finite
// and not negative, counts not negative, each agent's timer probe as
// CheckTimerNoise. An agent's own settings (its ready message) are checked
// so before they reach a record.
func CheckLoadInfo(l LoadInfo) error {
	return implausible(checkLoadInfo(l))
}

func checkLoadInfo(l LoadInfo) error {
	if path, v, ok := firstNonFinite(&l); ok {
		return fielderr.Errorf(path, "%v: want a finite number", v)
	}
	if path, v, ok := firstNegative(&l); ok {
		return fielderr.Errorf(path, "%v: want 0 or more", v)
	}
	for i, a := range l.Agents {
		if a.TimerNoise != nil {
			if err := checkTimerNoise(*a.TimerNoise); err != nil {
				return fielderr.In(err, "agents", fielderr.Index(i), "timer_noise")
			}
		}
	}
	return nil
}

// CheckTimerNoise checks a timer probe's record: every figure finite and
// not negative, its lateness percentiles as a latency's.
func CheckTimerNoise(n TimerNoise) error {
	return implausible(checkTimerNoise(n))
}

func checkTimerNoise(n TimerNoise) error {
	if path, v, ok := firstNonFinite(&n); ok {
		return fielderr.Errorf(path, "%v: want a finite number", v)
	}
	if path, v, ok := firstNegative(&n); ok {
		return fielderr.Errorf(path, "%v: want 0 or more", v)
	}
	if err := checkLatency(n.LateUS); err != nil {
		return fielderr.In(err, "late_us")
	}
	for i, c := range n.PerCPU {
		if c.P99US > c.MaxUS || c.MaxUS > MaxLatencyUS {
			return fielderr.Errorf(fmt.Sprintf("per_cpu[%d]", i), "p99 %v µs, max %v µs: want p99 ≤ max ≤ %v µs", c.P99US, c.MaxUS, MaxLatencyUS)
		}
	}
	return nil
}
