package report

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/perf/benchmath"

	"github.com/ukbench/ukbench/results"
)

// ErrMismatch is returned when two result sets were measured differently
// (accelerator) and the caller did not allow it.
var ErrMismatch = errors.New("results are not comparable")

// ErrNothingCompared is returned when a comparison would give no verdict:
// an unknown metric, a target with no runs, or no metric measured on both
// sides. A CI gate must not pass on nothing.
var ErrNothingCompared = errors.New("nothing to compare")

// CompareOptions configure a comparison.
type CompareOptions struct {
	// Alpha is the significance level of the Mann–Whitney U test; default 0.05.
	Alpha float64
	// Threshold is the smallest relative change, in the worse direction,
	// that counts as a regression when significant; default 0.05.
	Threshold float64
	// Confidence of the intervals around the medians; default 0.95.
	Confidence float64
	// Metrics limits the comparison to metrics whose name starts with one
	// of these prefixes ("max_rps", "p99_us", "boot_"…); empty: all. A
	// prefix no metric can have is an error (MetricNames lists them).
	Metrics []string
	// AllowMismatch compares results from different accelerators.
	AllowMismatch bool
}

func (o CompareOptions) withDefaults() CompareOptions {
	if o.Alpha == 0 {
		o.Alpha = 0.05
	}
	if o.Threshold == 0 {
		o.Threshold = 0.05
	}
	if o.Confidence == 0 {
		o.Confidence = 0.95
	}
	return o
}

// Side is one side of a comparison: runs under a label. Target, if set,
// keeps only that target's runs and compares across targets (OSv against
// Linux in one result directory).
type Side struct {
	Label  string
	Runs   []results.Run
	Target string
	// VMShape is the guest shape the runs were measured with (canonical
	// JSON from the manifest), or "" when unknown.
	VMShape string
}

// Stat is the summary of one sample: its median with a confidence interval.
type Stat struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Lo     float64 `json:"ci_lo"`
	Hi     float64 `json:"ci_hi"`
}

// Row is the comparison of one metric of one workload.
type Row struct {
	Group          string  `json:"group"` // workload, with the target when both sides share it: "osv/dns"
	Metric         string  `json:"metric"`
	Unit           string  `json:"unit"`
	HigherIsBetter bool    `json:"higher_is_better"`
	Base           Stat    `json:"base"`
	New            Stat    `json:"new"`
	DeltaPct       float64 `json:"delta_pct"` // (new/base − 1)·100
	P              float64 `json:"p"`
	Significant    bool    `json:"significant"`
	// Verdict is "regression", "improvement", "same" (significant but
	// within the threshold) or "~" (not significant).
	Verdict  string   `json:"verdict"`
	Warnings []string `json:"warnings,omitempty"`
}

// Comparison is the whole verdict.
type Comparison struct {
	Base, New   string
	Options     CompareOptions
	Rows        []Row
	Regressions int
	// Warnings concern the whole comparison (mismatched accelerators,
	// groups present on one side only).
	Warnings []string
}

// metric extracts one value from a run.
type metric struct {
	name, unit     string
	higherIsBetter bool
	value          func(results.Run) (float64, bool)
}

// Compare compares two sides metric by metric. Each run gives one value
// per metric (one per repeat); the samples are compared with benchmath's
// AssumeNothing: medians with confidence intervals, and the Mann–Whitney U
// test, which assumes only that repeats are independent. A regression is a
// change that is significant (p ≤ Alpha) and worse than Threshold.
//
// A comparison that compares no metric is ErrNothingCompared, with the
// reason: a metric prefix that names no metric, a side's Target without
// runs, or no metric measured on both sides.
//
// A run that results.CheckRun refuses, or a second record of a run (which
// the rank test would count twice), is left out, with a warning.
func Compare(base, new Side, opt CompareOptions) (Comparison, error) {
	opt = opt.withDefaults()
	c := Comparison{Base: base.Label, New: new.Label, Options: opt}
	for _, s := range []*Side{&base, &new} {
		var left []results.Warning
		s.Runs, left = believed(s.Runs)
		for _, w := range left {
			c.Warnings = append(c.Warnings, s.Label+": "+w.Msg)
		}
	}
	for _, p := range opt.Metrics {
		if !knownMetric(p) {
			return c, fmt.Errorf("%w: metric %q: no such metric; want a prefix of %s", ErrNothingCompared, p, strings.Join(MetricNames(), ", "))
		}
	}
	for _, s := range []Side{base, new} {
		if err := checkTarget(s); err != nil {
			return c, err
		}
	}
	if err := checkComparable(base, new, opt, &c); err != nil {
		return c, err
	}
	bGroups := groupRuns(base)
	nGroups := groupRuns(new)
	keys := make([]string, 0, len(bGroups))
	for k := range bGroups {
		if _, ok := nGroups[k]; ok {
			keys = append(keys, k)
		} else {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: only in %s", k, base.Label))
		}
	}
	for k := range nGroups {
		if _, ok := bGroups[k]; !ok {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: only in %s", k, new.Label))
		}
	}
	sort.Strings(keys)
	sort.Strings(c.Warnings)
	th := &benchmath.Thresholds{CompareAlpha: opt.Alpha}
	for _, k := range keys {
		b, n := bGroups[k], nGroups[k]
		for _, m := range metricsOf(b, n) {
			if !wanted(m.name, opt.Metrics) {
				continue
			}
			bv, nv := values(b, m), values(n, m)
			if len(bv) == 0 || len(nv) == 0 {
				continue
			}
			row := compareSample(k, m, bv, nv, th, opt)
			if row.Verdict == "regression" {
				c.Regressions++
			}
			c.Rows = append(c.Rows, row)
		}
	}
	if len(c.Rows) == 0 {
		why := "no metric was measured on both sides"
		if len(opt.Metrics) > 0 {
			why = "no metric matching " + strings.Join(opt.Metrics, ",") + " was measured on both sides"
		}
		if len(c.Warnings) > 0 {
			why += " (" + strings.Join(c.Warnings, "; ") + ")"
		}
		return c, fmt.Errorf("%w: %s", ErrNothingCompared, why)
	}
	return c, nil
}

// checkTarget refuses a side whose Target has no runs, naming the targets
// it has.
func checkTarget(s Side) error {
	if s.Target == "" {
		return nil
	}
	have := map[string]bool{}
	for _, r := range s.Runs {
		if r.Target == s.Target {
			return nil
		}
		have[r.Target] = true
	}
	names := make([]string, 0, len(have))
	for t := range have {
		names = append(names, t)
	}
	sort.Strings(names)
	there := "no runs at all"
	if len(names) > 0 {
		there = "runs of " + strings.Join(names, ", ")
	}
	// The label is not named: a caller's label may already carry the target.
	return fmt.Errorf("%w: target %q has no runs; the results have %s", ErrNothingCompared, s.Target, there)
}

// MetricNames are the metrics a comparison can have, the per-rate ones as
// NAME@RATE.
func MetricNames() []string {
	var names []string
	for _, m := range metricsOf(nil, nil) {
		names = append(names, m.name)
	}
	for _, m := range stepMetrics {
		names = append(names, m.name+"@RATE")
	}
	return names
}

// knownMetric reports whether some metric's name can start with prefix.
func knownMetric(prefix string) bool {
	if prefix == "" {
		return false
	}
	for _, m := range metricsOf(nil, nil) {
		if strings.HasPrefix(m.name, prefix) {
			return true
		}
	}
	for _, m := range stepMetrics {
		if at := m.name + "@"; strings.HasPrefix(at, prefix) || strings.HasPrefix(prefix, at) {
			return true
		}
	}
	return false
}

func compareSample(group string, m metric, bv, nv []float64, th *benchmath.Thresholds, opt CompareOptions) Row {
	bs, ns := benchmath.NewSample(bv, th), benchmath.NewSample(nv, th)
	bsum := benchmath.AssumeNothing.Summary(bs, opt.Confidence)
	nsum := benchmath.AssumeNothing.Summary(ns, opt.Confidence)
	cmp := benchmath.AssumeNothing.Compare(bs, ns)
	row := Row{
		Group: group, Metric: m.name, Unit: m.unit, HigherIsBetter: m.higherIsBetter,
		Base: Stat{N: len(bv), Median: bsum.Center, Lo: bsum.Lo, Hi: bsum.Hi},
		New:  Stat{N: len(nv), Median: nsum.Center, Lo: nsum.Lo, Hi: nsum.Hi},
		P:    cmp.P, Significant: cmp.P <= cmp.Alpha,
	}
	for _, ws := range [][]error{bsum.Warnings, nsum.Warnings, cmp.Warnings} {
		for _, w := range ws {
			row.Warnings = appendUnique(row.Warnings, w.Error())
		}
	}
	switch {
	case bsum.Center != 0:
		row.DeltaPct = (nsum.Center/bsum.Center - 1) * 100
	case nsum.Center != 0:
		row.DeltaPct = math.Inf(int(math.Copysign(1, nsum.Center)))
	}
	worse := row.DeltaPct
	if m.higherIsBetter {
		worse = -worse
	}
	switch {
	case !row.Significant:
		row.Verdict = "~"
	case worse > opt.Threshold*100:
		row.Verdict = "regression"
	case worse < -opt.Threshold*100:
		row.Verdict = "improvement"
	default:
		row.Verdict = "same"
	}
	return row
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// checkComparable refuses results from different accelerators (TCG and
// KVM figures differ by an order of magnitude) or VM shapes unless allowed.
func checkComparable(base, new Side, opt CompareOptions, c *Comparison) error {
	var diffs []string
	if ba, na := accels(base), accels(new); ba != na {
		diffs = append(diffs, fmt.Sprintf("accelerators differ: %s ran on %s, %s on %s", base.Label, ba, new.Label, na))
	}
	if base.VMShape != "" && new.VMShape != "" && base.VMShape != new.VMShape {
		diffs = append(diffs, fmt.Sprintf("VM shapes differ: %s %s, %s %s", base.Label, base.VMShape, new.Label, new.VMShape))
	}
	if len(diffs) == 0 {
		return nil
	}
	if !opt.AllowMismatch {
		return fmt.Errorf("%w: %s; pass --allow-mismatch to compare anyway", ErrMismatch, strings.Join(diffs, "; "))
	}
	c.Warnings = append(c.Warnings, diffs...)
	return nil
}

func accels(s Side) string {
	set := map[string]bool{}
	for _, r := range s.Runs {
		if s.Target == "" || r.Target == s.Target {
			set[r.Accel] = true
		}
	}
	var list []string
	for a := range set {
		list = append(list, a)
	}
	sort.Strings(list)
	return strings.Join(list, "+")
}

// groupRuns groups a side's runs by workload, with the target unless the
// side selects one target (then sides with different targets still meet).
func groupRuns(s Side) map[string][]results.Run {
	g := map[string][]results.Run{}
	for _, r := range s.Runs {
		if s.Target != "" {
			if r.Target != s.Target {
				continue
			}
			g[r.Workload] = append(g[r.Workload], r)
			continue
		}
		k := r.Target + "/" + r.Workload
		g[k] = append(g[k], r)
	}
	return g
}

// metricsOf lists the metrics of a group: the scalar ones, then achieved
// rate and latency at every offered rate both sides ran.
func metricsOf(b, n []results.Run) []metric {
	ms := []metric{
		{"max_rps", "req/s", true, func(r results.Run) (float64, bool) {
			return r.MaxSustainableRPS, r.Error == "" && len(r.Steps) > 0
		}},
		{"boot_qemu_start_ms", "ms", false, bootValue(func(b *results.Boot) float64 { return b.QEMUStartMS })},
		{"boot_console_ready_ms", "ms", false, bootValue(func(b *results.Boot) float64 { return b.ConsoleReadyMS })},
		{"boot_first_answer_ms", "ms", false, bootValue(func(b *results.Boot) float64 { return b.FirstAnswerMS })},
		{"qemu_rss_kib", "KiB", false, func(r results.Run) (float64, bool) {
			return float64(memRSS(r)), memRSS(r) > 0
		}},
	}
	for _, rate := range commonRates(b, n) {
		at := "@" + strconv.FormatFloat(rate, 'f', -1, 64)
		for _, s := range stepMetrics {
			ms = append(ms, metric{s.name + at, s.unit, s.higherIsBetter, stepValue(rate, s.value)})
		}
	}
	return ms
}

// stepMetrics are the metrics compared at each offered rate, as NAME@RATE.
var stepMetrics = []struct {
	name, unit     string
	higherIsBetter bool
	value          func(results.Step) float64
}{
	{"achieved_rps", "req/s", true, func(s results.Step) float64 { return s.AchievedRPS }},
	{"p50_us", "µs", false, func(s results.Step) float64 { return s.LatencyUS.P50 }},
	{"p99_us", "µs", false, func(s results.Step) float64 { return s.LatencyUS.P99 }},
}

func memRSS(r results.Run) int64 {
	if r.Memory == nil {
		return 0
	}
	return r.Memory.QEMURSSKiB
}

func bootValue(f func(*results.Boot) float64) func(results.Run) (float64, bool) {
	return func(r results.Run) (float64, bool) {
		if r.Boot == nil {
			return 0, false
		}
		v := f(r.Boot)
		return v, v > 0
	}
}

// stepValue reads a step metric at an offered rate: the last step at that
// rate (a retried rate's final run); steps without answers have no latency.
func stepValue(rate float64, f func(results.Step) float64) func(results.Run) (float64, bool) {
	return func(r results.Run) (float64, bool) {
		for i := len(r.Steps) - 1; i >= 0; i-- {
			if s := r.Steps[i]; s.OfferedRPS == rate && s.Phase != "bisect" {
				return f(s), s.Answered > 0
			}
		}
		return 0, false
	}
}

// commonRates are the listed (non-bisection) offered rates present in
// some run of both sides, ascending.
func commonRates(b, n []results.Run) []float64 {
	rates := func(runs []results.Run) map[float64]bool {
		m := map[float64]bool{}
		for _, r := range runs {
			for _, s := range r.Steps {
				if s.Phase != "bisect" {
					m[s.OfferedRPS] = true
				}
			}
		}
		return m
	}
	bm, nm := rates(b), rates(n)
	var out []float64
	for r := range bm {
		if nm[r] {
			out = append(out, r)
		}
	}
	sort.Float64s(out)
	return out
}

func values(runs []results.Run, m metric) []float64 {
	var v []float64
	for _, r := range runs {
		if x, ok := m.value(r); ok {
			v = append(v, x)
		}
	}
	return v
}

func wanted(name string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
