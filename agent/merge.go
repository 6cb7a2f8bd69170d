package agent

import (
	"fmt"
	"maps"
	"math"
	"strings"
	"time"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
)

// part is one agent's share of a step as the coordinator received it:
// its result and decoded histograms, or the error that left it without.
type part struct {
	name  string
	role  string
	rate  float64 // the rate the agent was asked for, requests/s
	lanes int     // the lanes it runs
	clock *results.ClockOffset
	at    int64 // the agreed start instant on the agent's wall clock, Unix ns
	res   result
	rec   *loadgen.Recorder // nil when err is set
	err   error
}

// merge builds the step record of spec from the agents' parts and judges
// it with lim, as one generator's step would be: counts and histograms
// are added, never percentiles averaged; the achieved rate is the sum of
// each agent's answers over its own measured window (each agent's
// AchievedRPS); latency percentiles come from the added latency
// histograms (of the probes alone when there are probes, and so is the
// send delay their resolution is judged by). Each agent's result is
// checked first (checkPart): one that fails adds nothing, and its record
// in Step.Agents keeps only why it was refused. The step is invalid when
// any agent gave no result, gave one that was refused, or did not deliver
// its own share, and the reason names the agent; and when the merged step
// itself fails its check (results.CheckShare, one extra send per agent),
// which also leaves no figure that is not finite. Every part is kept in
// Step.Agents.
func merge(spec loadgen.StepSpec, lim loadgen.Limits, parts []part) loadgen.StepOutcome {
	step := results.Step{OfferedRPS: spec.Rate, DurationS: spec.Duration.Seconds(), Errors: map[string]uint64{}, Codes: map[string]uint64{}}
	rec := loadgen.NewRecorder()
	latency := loadgen.NewRecorder() // the histograms latency is read from
	checked := make([]error, len(parts))
	probes := false
	for i, p := range parts {
		if p.err == nil {
			checked[i] = checkPart(spec, p)
		}
		probes = probes || (p.role == RoleProbe && p.err == nil && checked[i] == nil)
	}
	var reasons []string
	for i, p := range parts {
		as := results.AgentStep{Agent: p.name, Clock: p.clock}
		if p.role == RoleProbe {
			as.Role = RoleProbe
		}
		if p.err != nil {
			as.Error = p.err.Error()
			reasons = append(reasons, fmt.Sprintf("agent %s gave no result: %v", p.name, p.err))
			step.Agents = append(step.Agents, as)
			continue
		}
		if err := checked[i]; err != nil {
			as.Error = "result refused: " + err.Error()
			reasons = append(reasons, fmt.Sprintf("agent %s's result refused: %v", p.name, err))
			step.Agents = append(step.Agents, as)
			continue
		}
		s := p.res.Step
		as.Step = s
		if p.at != 0 && p.res.Started != 0 {
			as.StartSkewUS = skewUS(p.res.Started, p.at)
		}
		step.Agents = append(step.Agents, as)
		if !s.Valid {
			reasons = append(reasons, fmt.Sprintf("agent %s did not deliver its share: %s", p.name, s.InvalidReason))
		}
		step.Sent = addSat(step.Sent, s.Sent)
		step.NeverSent = addSat(step.NeverSent, s.NeverSent)
		step.Answered = addSat(step.Answered, s.Answered)
		step.AchievedRPS += s.AchievedRPS
		addCounts(step.Errors, s.Errors)
		addCounts(step.Codes, s.Codes)
		step.Lag.LateSends = addSat(step.Lag.LateSends, s.Lag.LateSends)
		step.Lag.MaxLateUS = max(step.Lag.MaxLateUS, s.Lag.MaxLateUS)
		step.Lag.Blocked = addSat(step.Lag.Blocked, s.Lag.Blocked)
		step.Lag.LateBlocked = addSat(step.Lag.LateBlocked, s.Lag.LateBlocked)
		step.Lag.SentInWindow = addSat(step.Lag.SentInWindow, s.Lag.SentInWindow)
		rec.Merge(p.rec)
		if !probes || p.role == RoleProbe {
			latency.Merge(p.rec)
		}
	}
	// Latency, its resolution (the send delay it is judged against) and
	// service time come from the same agents: the probes when there are
	// any; the gaps from every agent.
	rec.Latency, rec.Service, rec.SendDelay = latency.Latency, latency.Service, latency.SendDelay
	step.LatencyUS = loadgen.Summarize(rec.Latency)
	step.ServiceUS = loadgen.Summarize(rec.Service)
	lim.Judge(&step, rec)
	if len(reasons) > 0 {
		if !step.Valid {
			reasons = append(reasons, step.InvalidReason)
		}
		step.Valid, step.InvalidReason = false, strings.Join(reasons, "; ")
	}
	if err := results.CheckShare(step, len(parts)); err != nil {
		// Not expected once every part is checked: a last guard, so that
		// what the merge made is never believed, nor written, unchecked.
		step.ZeroNonFinite()
		step.Valid, step.InvalidReason = false, results.JoinReasons(step.InvalidReason, "merged step refused: "+err.Error())
	}
	return loadgen.StepOutcome{Step: step, Hist: rec}
}

// skewUS is started − at in microseconds, without the wrap of an int64
// difference out of range (an agent's Started is its own word).
func skewUS(started, at int64) float64 {
	d := started - at
	if (started^at)&(started^d) < 0 { // the difference overflowed
		return float64(started)/1e3 - float64(at)/1e3
	}
	return float64(d) / 1e3
}

// addSat is a + b, or the largest uint64 when that overflows: a sum of
// counts never wraps round to a small one.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}

func addCounts(dst, src map[string]uint64) {
	for k, v := range maps.All(src) {
		dst[k] = addSat(dst[k], v)
	}
}

// stepLength is how long a step's schedule runs on each agent.
func stepLength(spec loadgen.StepSpec) time.Duration { return spec.Warmup + spec.Duration }
