package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"golang.org/x/perf/benchmath"

	"github.com/ukbench/ukbench/results"
)

// WriteGoBench writes runs in the Go benchmark format that benchstat reads:
// one line per run (a repeat), named
// BenchmarkUkbench/workload=<workload>/target=<target> (so that benchstat
// can pivot on them, e.g. -col /target),
// with every metric of compare as a value-unit pair, and unit metadata lines
// telling benchstat which direction is better. Units put the metric name
// first ("max_rps", "p99_us@5000") so that benchstat keeps them apart.
//
// Runs results.CheckRun refuses, and second records of a run, are left out.
func WriteGoBench(w io.Writer, runs []results.Run) error {
	groups := groupRuns(Side{Runs: believedRuns(runs)})
	keys := sortedKeys(groups)
	fmt.Fprintln(w, "pkg: ukbench")
	units := map[string]bool{}
	var body strings.Builder
	for _, k := range keys {
		g := groups[k]
		ms := metricsOf(g, g)
		target, workload, _ := strings.Cut(k, "/")
		for _, r := range g {
			fmt.Fprintf(&body, "BenchmarkUkbench/workload=%s/target=%s 1", benchName(workload), benchName(target))
			for _, m := range ms {
				if v, ok := m.value(r); ok {
					fmt.Fprintf(&body, " %g %s", v, m.name)
					units[m.name+" "+betterWord(m.higherIsBetter)] = true
				}
			}
			body.WriteString("\n")
		}
	}
	var unitLines []string
	for u := range units {
		name, better, _ := strings.Cut(u, " ")
		unitLines = append(unitLines, fmt.Sprintf("Unit %s better=%s assume=nothing", name, better))
	}
	sort.Strings(unitLines)
	for _, l := range unitLines {
		fmt.Fprintln(w, l)
	}
	_, err := io.WriteString(w, body.String())
	return err
}

func betterWord(higher bool) string {
	if higher {
		return "higher"
	}
	return "lower"
}

// benchName makes a name usable in a benchmark line (no spaces).
func benchName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return '_'
		}
		return r
	}, s)
}

// WriteBMF writes runs as Bencher Metric Format JSON: one benchmark per
// target and workload ("osv/dns"), one measure per metric, its value the
// median over repeats with the 95 % confidence interval as lower and upper
// values (omitted when there are too few repeats for one). Runs
// results.CheckRun refuses, and second records of a run, are left out.
func WriteBMF(w io.Writer, runs []results.Run) error {
	type measure struct {
		Value float64  `json:"value"`
		Lower *float64 `json:"lower_value,omitempty"`
		Upper *float64 `json:"upper_value,omitempty"`
	}
	out := map[string]map[string]measure{}
	groups := groupRuns(Side{Runs: believedRuns(runs)})
	th := &benchmath.DefaultThresholds
	for _, k := range sortedKeys(groups) {
		g := groups[k]
		for _, m := range metricsOf(g, g) {
			v := values(g, m)
			if len(v) == 0 {
				continue
			}
			s := benchmath.AssumeNothing.Summary(benchmath.NewSample(v, th), 0.95)
			ms := measure{Value: s.Center}
			if !math.IsInf(s.Lo, 0) && !math.IsInf(s.Hi, 0) {
				lo, hi := s.Lo, s.Hi
				ms.Lower, ms.Upper = &lo, &hi
			}
			if out[k] == nil {
				out[k] = map[string]measure{}
			}
			out[k][m.name] = ms
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func sortedKeys(m map[string][]results.Run) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
