package loadgen

import (
	"fmt"
	"time"

	"github.com/ukbench/ukbench/results"
)

// Limits decide when a step's generator lagged too much to be trusted
// (DESIGN.md rule 2), and how tightly it paces.
type Limits struct {
	// LateAfter: a send that leaves more than this after its intended time
	// is late. Default 1 ms.
	LateAfter time.Duration
	// MaxLateFraction: a step with a larger fraction of late sends is
	// invalid. Default 0.01.
	MaxLateFraction float64
	// TimerSlack of the pacing threads; default DefaultTimerSlack. The
	// keep-alive HTTP loop stops sleeping twice this before a send and
	// polls the rest.
	TimerSlack time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.LateAfter <= 0 {
		l.LateAfter = DefaultLimits.LateAfter
	}
	if l.MaxLateFraction <= 0 {
		l.MaxLateFraction = DefaultLimits.MaxLateFraction
	}
	if l.TimerSlack <= 0 {
		l.TimerSlack = DefaultTimerSlack
	}
	return l
}

// judge sets Valid and InvalidReason from the step's lag.
func (l Limits) judge(s *results.Step) {
	s.Valid = true
	s.InvalidReason = ""
	if s.NeverSent > 0 {
		s.Valid = false
		s.InvalidReason = fmt.Sprintf("schedule not delivered: %d of %d due sends never left by the step's end (the generator could not send %.0f/s)",
			s.NeverSent, s.Sent+s.NeverSent, s.OfferedRPS)
		return
	}
	if s.Sent == 0 {
		s.Valid = false
		s.InvalidReason = "no request was sent in the measured window"
		return
	}
	frac := float64(s.Lag.LateSends) / float64(s.Sent)
	if frac > l.MaxLateFraction {
		s.Valid = false
		s.InvalidReason = fmt.Sprintf("schedule not kept: %.2f%% of sends left more than %v late (limit %.2f%%)",
			100*frac, l.LateAfter, 100*l.MaxLateFraction)
		if lb := s.Lag.LateBlocked; lb > 0 {
			// Tell the two causes apart: a server holding every connection
			// (more connections may help, if it has capacity left) and the
			// generator's own delay in sending.
			s.InvalidReason += fmt.Sprintf("; %d of them waited for a free connection or query ID (the server held them all), %d were the generator's own delay",
				lb, s.Lag.LateSends-lb)
		}
	}
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
		return false, fmt.Sprintf("p99 %.0fµs > SLO %v", s.LatencyUS.P99, c.SLOP99)
	}
	return true, ""
}
