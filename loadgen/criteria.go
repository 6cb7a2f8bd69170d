package loadgen

import (
	"fmt"
	"time"

	"github.com/ukbench/ukbench/results"
)

// Limits judge a step by what the generator's lag distorts (DESIGN.md
// rule 2), and set how tightly it paces. Two verdicts follow from them:
// load delivered (judge: the schedule reached the server, or the step is
// invalid) and latency resolution (each percentile at which the
// generator's own send delay is a material share is flagged
// generator-limited). A late send alone does not make a step invalid: its
// latency runs from the intended send time, so it can only make the server
// look slower.
type Limits struct {
	// LateAfter: a send that leaves more than this after its intended time
	// is late (counted in Lag.LateSends). It is also the inter-arrival
	// check's tolerance in time: a gap that differs from the schedule's by
	// less is no distortion. Default 1 ms.
	LateAfter time.Duration
	// MaxLateFraction is the strict rule, off when 0 (the default): when
	// above 0, a step with a larger fraction of late sends is invalid
	// too, whatever the late sends distorted.
	MaxLateFraction float64
	// MinSentInWindow is the least fraction of a step's measured sends
	// that must leave by the end of its measured window. Default 0.99.
	MinSentInWindow float64
	// MaxBlockedFraction is the largest fraction of a step's sends that
	// may wait more than LateAfter for a free connection or ID: past it
	// the schedule became a closed loop of the generator's connections.
	// Default 0.01.
	MaxBlockedFraction float64
	// MaxInterArrivalDistance is the largest Lévy distance (0 to 1,
	// tolerance LateAfter) between the sends' actual inter-arrival times
	// and the schedule's. Default 0.05.
	MaxInterArrivalDistance float64
	// ResolutionFraction: a latency percentile is generator-limited when
	// the generator's own send delay at that percentile is more than this
	// fraction of it. Default 0.10.
	ResolutionFraction float64
	// TimerSlack of the pacing threads; default DefaultTimerSlack. The
	// keep-alive HTTP loop stops sleeping twice this before a send and
	// polls the rest.
	TimerSlack time.Duration
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.LateAfter <= 0 {
		l.LateAfter = d.LateAfter
	}
	if l.MaxLateFraction < 0 {
		l.MaxLateFraction = 0 // off, as when 0
	}
	if l.MaxBlockedFraction <= 0 {
		l.MaxBlockedFraction = d.MaxBlockedFraction
	}
	if l.MinSentInWindow <= 0 {
		l.MinSentInWindow = d.MinSentInWindow
	}
	if l.MaxInterArrivalDistance <= 0 {
		l.MaxInterArrivalDistance = d.MaxInterArrivalDistance
	}
	if l.ResolutionFraction <= 0 {
		l.ResolutionFraction = d.ResolutionFraction
	}
	if l.TimerSlack <= 0 {
		l.TimerSlack = DefaultTimerSlack
	}
	return l
}

// describe records the limits in a run's generator settings.
func (l Limits) describe(info *results.LoadInfo) {
	info.LateAfterUS = float64(l.LateAfter.Microseconds())
	info.MaxLateFrac = l.MaxLateFraction
	info.ResolutionFraction = l.ResolutionFraction
	info.MinSentInWindow = l.MinSentInWindow
	info.MaxInterArrivalDistance = l.MaxInterArrivalDistance
	info.MaxBlockedFraction = l.MaxBlockedFraction
	info.TimerSlackUS = float64(l.TimerSlack) / 1e3
}

// judge gives the step its two verdicts from its counts and the send
// histograms of rec: Valid and InvalidReason (load delivered), and
// GeneratorLimited (latency resolution). LatencyUS and Lag must be set.
func (l Limits) judge(s *results.Step, rec *Recorder) {
	s.SendDelayUS = Summarize(rec.SendDelay)
	s.Lag.InterArrivalDistance = interArrivalDistance(rec.GapIntended, rec.GapActual, l.LateAfter)
	s.GeneratorLimited = generatorLimited(s.LatencyUS, s.SendDelayUS, l.ResolutionFraction)
	s.Valid, s.InvalidReason = true, ""
	if why := l.undelivered(*s); why != "" {
		s.Valid, s.InvalidReason = false, why
	}
}

// Judge gives s its two verdicts from its counts and rec's send
// histograms, as a generator judges its own steps: for a step merged from
// several generators' records (agents). LatencyUS and Lag must be set;
// zero limits take their defaults.
func (l Limits) Judge(s *results.Step, rec *Recorder) {
	l.withDefaults().judge(s, rec)
}

// undelivered says why the step's schedule did not reach the server, or
// "" when it did.
func (l Limits) undelivered(s results.Step) string {
	if s.NeverSent > 0 {
		return fmt.Sprintf("schedule not delivered: %d of %d due sends never left by the step's end (the generator could not send %.0f/s)",
			s.NeverSent, s.Sent+s.NeverSent, s.OfferedRPS)
	}
	if s.Sent == 0 {
		return "no request was sent in the measured window"
	}
	// The sends are compared with the schedule's own count, not with
	// offered × window: a Poisson schedule's count varies by √n.
	if in := float64(s.Lag.SentInWindow) / float64(s.Sent); in < l.MinSentInWindow {
		return fmt.Sprintf("schedule not delivered: %.2f%% of sends left within the measured window (want ≥ %.0f%%): the generator fell behind",
			100*in, 100*l.MinSentInWindow)
	}
	if d := s.Lag.InterArrivalDistance; d > l.MaxInterArrivalDistance {
		return fmt.Sprintf("schedule not delivered: the sends' inter-arrival times are %.3f from the schedule's (Lévy distance at %v tolerance; limit %.3f): they left in bursts",
			d, l.LateAfter, l.MaxInterArrivalDistance)
	}
	// Sends that waited for a connection or ID reached the server late
	// because it held them all: the offered schedule became a closed loop
	// of the generator's connections.
	if frac := float64(s.Lag.LateBlocked) / float64(s.Sent); frac > l.MaxBlockedFraction {
		return fmt.Sprintf("schedule not delivered: %.2f%% of sends (%d) waited more than %v for a free connection or query ID (the server held them all; more connections may help, if it has capacity left)",
			100*frac, s.Lag.LateBlocked, l.LateAfter)
	}
	if l.MaxLateFraction > 0 {
		if frac := float64(s.Lag.LateSends) / float64(s.Sent); frac > l.MaxLateFraction {
			why := fmt.Sprintf("schedule not kept: %.2f%% of sends left more than %v late (strict limit %.2f%%)",
				100*frac, l.LateAfter, 100*l.MaxLateFraction)
			if lb := s.Lag.LateBlocked; lb > 0 {
				why += fmt.Sprintf("; %d of them waited for a free connection or query ID (the server held them all), %d were the generator's own delay",
					lb, s.Lag.LateSends-lb)
			}
			return why
		}
	}
	return ""
}

// Criteria define a sustainable step (DESIGN.md rule 4).
type Criteria struct {
	// MinAchieved is the least achieved/offered ratio. Default 0.99.
	MinAchieved float64
	// MaxLoss is the largest fraction of requests without a good answer.
	// Default 0.01.
	MaxLoss float64
	// SLOP99 is the largest p99 latency (from the intended send time);
	// zero means no latency objective.
	SLOP99 time.Duration
}

// Sustainable reports whether the step meets the criteria and, if not, why.
func (c Criteria) Sustainable(s results.Step) (bool, string) {
	switch {
	case !s.Valid:
		return false, "invalid: " + s.InvalidReason
	case s.AchievedRPS < c.MinAchieved*s.OfferedRPS:
		return false, fmt.Sprintf("achieved %.0f/s < %.0f%% of offered %.0f/s", s.AchievedRPS, 100*c.MinAchieved, s.OfferedRPS)
	case s.LossFraction() > c.MaxLoss:
		return false, fmt.Sprintf("loss %.2f%% > %.2f%%", 100*s.LossFraction(), 100*c.MaxLoss)
	case c.SLOP99 > 0 && s.LatencyUS.P99 > float64(c.SLOP99.Microseconds()):
		why := fmt.Sprintf("p99 %.0fµs > SLO %v", s.LatencyUS.P99, c.SLOP99)
		if s.IsGeneratorLimited("p99") {
			// The measured p99 is an upper bound of the server's: say
			// that the generator's delay may be what missed the SLO.
			why += fmt.Sprintf(", generator-limited (the generator's own send delay at p99 was %.0fµs)", s.SendDelayUS.P99)
		}
		return false, why
	}
	return true, ""
}
