package report

import (
	"fmt"
	"math"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
)

// limitedLegend explains the mark of a generator-limited latency
// (limitedMark), wherever the report shows one.
const limitedLegend = "A latency marked * is generator-limited in that many of the repeats' steps (DESIGN.md rule 2): the generator's own send delay at that percentile was a material share of it, so the figure is an upper bound of the server's."

// limitedMark marks a latency figure, the median of n steps' percentiles
// of which limited were flagged generator-limited: "" when none was,
// "*" when all were, else "* (k/n)".
func limitedMark(limited, n int) string {
	switch {
	case limited == 0:
		return ""
	case limited == n:
		return "*"
	}
	return fmt.Sprintf("* (%d/%d)", limited, n)
}

// timerBanner says, when it matters, that the host's timers wake too late
// for some of the latencies the report shows: when the worst p99 wake-up
// delay of the runs' timer probes (the coordinator's, or each agent's) is more than the resolution fraction of
// the lowest p99 latency in the summary. It is "" when no run carries a
// probe or every latency shown is resolvable.
func timerBanner(sources []Source, ss []*series) string {
	var worst *results.TimerNoise
	frac := loadgen.DefaultLimits.ResolutionFraction
	for _, src := range sources {
		for _, r := range src.Runs {
			noises := []*results.TimerNoise{r.TimerNoise}
			if r.Load != nil {
				for _, a := range r.Load.Agents { // the load's hosts, when agents made it
					noises = append(noises, a.TimerNoise)
				}
			}
			for _, n := range noises {
				if n != nil && (worst == nil || n.LateUS.P99 > worst.LateUS.P99) {
					worst = n
				}
			}
			if r.Load != nil && r.Load.ResolutionFraction > 0 {
				frac = r.Load.ResolutionFraction
			}
		}
	}
	if worst == nil {
		return ""
	}
	lowest := math.Inf(1)
	for _, s := range ss {
		if ref, ok := referencePoint(s); ok {
			if p99, _, _, ok := Spread(ref.P99); ok && p99 > 0 {
				lowest = min(lowest, p99)
			}
		}
	}
	if math.IsInf(lowest, 1) || worst.LateUS.P99 <= frac*lowest {
		return ""
	}
	return fmt.Sprintf("this host woke timers up to %s late at p99 (%d wake-ups on CPUs %v before the runs, where the generator ran): "+
		"a latency below about %s is not resolvable here, and the lowest p99 shown is %s. Each step's percentiles that the "+
		"generator's own delay limited are flagged in runs.jsonl (generator_limited) and marked * below.",
		readableLatency(worst.LateUS.P99), worst.Wakeups, worst.CPUs, readableLatency(worst.LateUS.P99/frac), readableLatency(lowest))
}
