package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/ukbench/ukbench/results"
)

// WriteCSV writes one tidy row per source × run × step, of the runs a
// report believes (Write).
func WriteCSV(w io.Writer, sources []Source) error {
	sources, _ = believedSources(sources)
	cw := csv.NewWriter(w)
	cw.Write([]string{"source", "target", "workload", "repeat", "accel", "phase", "offered_rps", "duration_s",
		"sent", "answered", "achieved_rps", "loss", "valid", "sustainable", "late_sends", "errors",
		"p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us", "never_sent", "run_error",
		"send_delay_p50_us", "send_delay_p99_us", "generator_limited", "interarrival_distance"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, src := range sources {
		for _, r := range src.Runs {
			for _, s := range r.Steps {
				cw.Write([]string{src.Label, r.Target, r.Workload, strconv.Itoa(r.Repeat), r.Accel, s.Phase,
					f(s.OfferedRPS), f(s.DurationS), strconv.FormatUint(s.Sent, 10), strconv.FormatUint(s.Answered, 10),
					f(s.AchievedRPS), f(s.LossFraction()), strconv.FormatBool(s.Valid), strconv.FormatBool(s.Sustainable),
					strconv.FormatUint(s.Lag.LateSends, 10), strconv.FormatUint(errorTotal(s), 10),
					f(s.LatencyUS.P50), f(s.LatencyUS.P90), f(s.LatencyUS.P99), f(s.LatencyUS.P999), f(s.LatencyUS.Max), f(s.LatencyUS.Mean),
					strconv.FormatUint(s.NeverSent, 10), r.Error,
					f(s.SendDelayUS.P50), f(s.SendDelayUS.P99), strings.Join(s.GeneratorLimited, " "), f(s.Lag.InterArrivalDistance)})
			}
			if len(r.Steps) == 0 { // a run that failed before its first step still shows
				cw.Write([]string{src.Label, r.Target, r.Workload, strconv.Itoa(r.Repeat), r.Accel, "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", r.Error, "", "", "", ""})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func errorTotal(s results.Step) uint64 {
	var n uint64
	for k, v := range s.Errors {
		if k != "late_answer" { // a late answer is already counted as a timeout
			n += v
		}
	}
	return n
}
