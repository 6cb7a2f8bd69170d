// Package report turns run records into tables, plots and documents.
package report

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/ukbench/ukbench/results"
)

// StepTable prints steps as a readable fixed-width table, one row per
// step, as they finish. It is not safe for concurrent use.
type StepTable struct {
	w io.Writer
	// marked: a row has marked a generator-limited latency, and the
	// legend has been printed under it.
	marked bool
}

const stepRowFormat = "%9s %10s %9s %9s %6s %8s %8s %8s %9s %8s %6s %5s %4s  %s\n"

// NewStepTable starts a table on w.
func NewStepTable(w io.Writer) *StepTable {
	fmt.Fprintf(w, stepRowFormat, "offered/s", "achieved/s", "sent", "answered", "loss%",
		"p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "late%", "valid", "ok", "errors")
	return &StepTable{w: w}
}

// Row prints one step. "valid" says whether the schedule reached the
// server (the load-delivered verdict); "ok" whether the step met the
// sustainability criteria. A step that did not gets a second line saying
// why. A latency marked * is generator-limited; the first row with one
// gets a line saying what the mark means.
func (t *StepTable) Row(s results.Step) {
	late := 0.0
	if s.Sent > 0 {
		late = 100 * float64(s.Lag.LateSends) / float64(s.Sent)
	}
	lat := make([]any, len(results.LatencyPercentiles))
	first := "" // the first generator-limited percentile
	for i, name := range results.LatencyPercentiles {
		us, _ := s.LatencyUS.Percentile(name)
		lat[i] = fmtFinite("%.3f", us/1000)
		if s.IsGeneratorLimited(name) {
			lat[i] = lat[i].(string) + "*"
			if first == "" {
				first = name
			}
		}
	}
	fmt.Fprintf(t.w, stepRowFormat, append(append([]any{
		fmtFinite("%.0f", s.OfferedRPS), fmtFinite("%.1f", s.AchievedRPS),
		fmt.Sprint(s.Sent), fmt.Sprint(s.Answered), fmtFinite("%.2f", 100*s.LossFraction())},
		lat...), fmtFinite("%.2f", late), yesNo(s.Valid), yesNo(s.Sustainable), FormatCounts(s.Errors))...)
	if !s.Sustainable && s.NotSustainableReason != "" {
		fmt.Fprintf(t.w, "%9s  ↳ %s\n", "", s.NotSustainableReason)
	}
	if first != "" && !t.marked {
		t.marked = true
		d, _ := s.SendDelayUS.Percentile(first)
		fmt.Fprintf(t.w, "%9s  * generator-limited: the generator's own send delay at that percentile (%s %.3f ms here) is a material share of it; the figure is an upper bound of the server's\n",
			"", first, d/1000)
	}
}

// fmtFinite formats v, or "?" when it is NaN or infinite: a figure no step
// can have (the merged step of agents is checked so that it never has
// one) is not printed as "+Inf".
func fmtFinite(format string, v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "?"
	}
	return fmt.Sprintf(format, v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// FormatCounts prints a count map as "a=1 b=2", sorted by key, or "-".
func FormatCounts(m map[string]uint64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}
