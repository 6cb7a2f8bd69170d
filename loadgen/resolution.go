package loadgen

import "github.com/ukbench/ukbench/results"

// generatorLimited is the latency-resolution verdict (DESIGN.md rule 2):
// the latency percentiles (named as in results.LatencyPercentiles) at
// which the generator's own send delay at the same percentile is more than
// frac of the latency. Latency runs from the intended send time, so it
// holds the generator's delay: at a flagged percentile the figure may be
// the generator's rather than the server's, and is an upper bound of the
// server's. Both arguments are in the same unit; nil when none is flagged.
func generatorLimited(latency, delay results.Latency, frac float64) []string {
	var flagged []string
	for _, name := range results.LatencyPercentiles {
		l, _ := latency.Percentile(name)
		d, _ := delay.Percentile(name)
		if l > 0 && d > frac*l {
			flagged = append(flagged, name)
		}
	}
	return flagged
}
