package report

import (
	"os"
	"path/filepath"
	"sort"

	"github.com/ukbench/ukbench/results"
)

// Source is one result set: the runs of a result directory under a label.
type Source struct {
	Label string
	Runs  []results.Run
	// Dir is the result directory the runs came from; step histograms
	// (results.Run.Hist) are found relative to it. Empty: none are read.
	Dir string
}

// series is one line in a figure: a target's workload from one source,
// aggregated over repeats at each offered rate.
type series struct {
	Name     string // target, or "label: target" when several sources are combined
	Workload string
	Accel    string
	Points   []ratePoint // ascending offered rate
	MaxRPS   []float64   // max_sustainable_rps of each finished run
	// Bounded: some run's sweep found its maximum bounded from above by a
	// failing step (results.Run.MaxBounded); otherwise MaxRPS is only a
	// lower bound.
	Bounded bool
	Boots   []results.Boot // of runs that recorded one
	RSSKiB  []float64      // QEMU RSS after boot, of runs that recorded it
	Runs    int
	Failed  int
}

// ratePoint aggregates the repeats at one offered rate.
type ratePoint struct {
	Offered  float64
	Achieved []float64
	P50, P99 []float64 // µs; only steps with answers
	// Limited50 and Limited99 count the steps of P50 and P99 whose
	// percentile was flagged generator-limited.
	Limited50, Limited99 int
	Loss                 []float64 // only steps that sent something
	Hists                []string  // the steps' histogram log files that exist
}

// buildSeries groups runs by source, target and workload, in a stable order.
func buildSeries(sources []Source) []*series {
	byKey := map[string]*series{}
	var order []string
	for _, src := range sources {
		for _, r := range src.Runs {
			name := r.Target
			if len(sources) > 1 {
				name = src.Label + ": " + r.Target
			}
			key := name + "\x00" + r.Workload
			s := byKey[key]
			if s == nil {
				s = &series{Name: name, Workload: r.Workload, Accel: r.Accel}
				byKey[key] = s
				order = append(order, key)
			}
			s.Runs++
			if r.Error != "" {
				s.Failed++
			} else if len(r.Steps) > 0 {
				s.MaxRPS = append(s.MaxRPS, r.MaxSustainableRPS)
			}
			if r.Accel != s.Accel {
				s.Accel = "mixed"
			}
			addSteps(s, r.Steps, histPaths(src.Dir, r))
			if r.Boot != nil {
				s.Boots = append(s.Boots, *r.Boot)
			}
			if r.Memory != nil && r.Memory.QEMURSSKiB > 0 {
				s.RSSKiB = append(s.RSSKiB, float64(r.Memory.QEMURSSKiB))
			}
			s.Bounded = s.Bounded || r.MaxBounded()
		}
	}
	sort.Strings(order)
	out := make([]*series, len(order))
	for i, k := range order {
		out[i] = byKey[k]
		sort.Slice(out[i].Points, func(a, b int) bool { return out[i].Points[a].Offered < out[i].Points[b].Offered })
	}
	return out
}

// addSteps adds one run's steps; a rate run more than once in the run (a
// retry) counts by its last run.
func addSteps(s *series, steps []results.Step, hists []string) {
	last := map[float64]int{}
	for i, st := range steps {
		last[st.OfferedRPS] = i
	}
	for rate, i := range last {
		st := steps[i]
		var p *ratePoint
		for i := range s.Points {
			if s.Points[i].Offered == rate {
				p = &s.Points[i]
			}
		}
		if p == nil {
			s.Points = append(s.Points, ratePoint{Offered: rate})
			p = &s.Points[len(s.Points)-1]
		}
		p.Achieved = append(p.Achieved, st.AchievedRPS)
		if st.Sent > 0 { // a step that sent nothing lost nothing
			p.Loss = append(p.Loss, st.LossFraction())
		}
		if st.Answered > 0 {
			p.P50 = append(p.P50, st.LatencyUS.P50)
			p.P99 = append(p.P99, st.LatencyUS.P99)
			if st.IsGeneratorLimited("p50") {
				p.Limited50++
			}
			if st.IsGeneratorLimited("p99") {
				p.Limited99++
			}
		}
		if i < len(hists) && hists[i] != "" {
			p.Hists = append(p.Hists, hists[i])
		}
	}
}

// histPaths lists the histogram file of each step of a run ("" where the
// file is missing).
func histPaths(dir string, r results.Run) []string {
	if dir == "" || r.Hist == "" {
		return nil
	}
	out := make([]string, len(r.Steps))
	for i, st := range r.Steps {
		p := filepath.Join(dir, r.Hist, results.HistFileName(i+1, st.OfferedRPS))
		if _, err := os.Stat(p); err == nil {
			out[i] = p
		}
	}
	return out
}

func workloads(ss []*series) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s.Workload] {
			seen[s.Workload] = true
			out = append(out, s.Workload)
		}
	}
	sort.Strings(out)
	return out
}
