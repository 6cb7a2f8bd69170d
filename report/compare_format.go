package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// WriteText prints the comparison as a benchstat-style table: medians with
// the confidence interval as ±%, the change, its p-value, and the verdict;
// "~" where the difference is not significant.
func (c Comparison) WriteText(w io.Writer) error {
	o := c.Options
	fmt.Fprintf(w, "base: %s\nnew:  %s\n", c.Base, c.New)
	fmt.Fprintf(w, "medians over repeats, %.0f%% confidence intervals; Mann–Whitney U test, α=%g; regression: significant and > %g%% worse\n\n",
		100*o.Confidence, o.Alpha, 100*o.Threshold)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "group\tmetric\tbase\tnew\tdelta\tp\tverdict\t")
	for _, r := range c.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\tp=%.3f n=%d+%d\t%s\t\n", r.Group, r.Metric,
			formatStat(r.Base, r.Unit), formatStat(r.New, r.Unit), r.delta(), r.P, r.Base.N, r.New.N, verdictWord(r.Verdict))
	}
	tw.Flush()
	c.writeWarnings(w, "")
	fmt.Fprintf(w, "\n%s\n", c.Summary())
	return nil
}

// Summary is one line: the verdict of the whole comparison.
func (c Comparison) Summary() string {
	if c.Regressions == 0 {
		return fmt.Sprintf("no regression (%d metrics compared)", len(c.Rows))
	}
	return fmt.Sprintf("%d regression(s) in %d metrics compared", c.Regressions, len(c.Rows))
}

// WriteMarkdown prints the comparison for CI step summaries and pull
// request comments.
func (c Comparison) WriteMarkdown(w io.Writer) error {
	o := c.Options
	fmt.Fprintf(w, "### ukbench compare: %s\n\n", c.Summary())
	fmt.Fprintf(w, "Base `%s`, new `%s`. Medians over repeats with %.0f%% confidence intervals; Mann–Whitney U test, α=%g; a regression is significant and more than %g%% worse.\n\n",
		c.Base, c.New, 100*o.Confidence, o.Alpha, 100*o.Threshold)
	fmt.Fprintln(w, "| group | metric | base | new | delta | p | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range c.Rows {
		v := verdictWord(r.Verdict)
		if r.Verdict == "regression" {
			v = "**" + v + "**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.3f (n=%d+%d) | %s |\n", r.Group, r.Metric,
			formatStat(r.Base, r.Unit), formatStat(r.New, r.Unit), r.delta(), r.P, r.Base.N, r.New.N, v)
	}
	c.writeWarnings(w, "- ")
	return nil
}

// WriteJSON writes the verdict per metric.
func (c Comparison) WriteJSON(w io.Writer) error {
	type out struct {
		Base        string   `json:"base"`
		New         string   `json:"new"`
		Alpha       float64  `json:"alpha"`
		Threshold   float64  `json:"threshold"`
		Confidence  float64  `json:"confidence"`
		Regressions int      `json:"regressions"`
		Rows        []Row    `json:"metrics"`
		Warnings    []string `json:"warnings,omitempty"`
	}
	rows := make([]Row, len(c.Rows))
	for i, r := range c.Rows {
		r.Base, r.New = finite(r.Base), finite(r.New)
		if math.IsInf(r.DeltaPct, 0) {
			r.DeltaPct = 0 // JSON has no infinity; the verdict still says it
		}
		rows[i] = r
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out{c.Base, c.New, c.Options.Alpha, c.Options.Threshold, c.Options.Confidence, c.Regressions, rows, c.Warnings})
}

// finite replaces infinite interval bounds (too few repeats) with the
// median, since JSON cannot hold infinity; the row's warnings say why.
func finite(s Stat) Stat {
	if math.IsInf(s.Lo, 0) {
		s.Lo = s.Median
	}
	if math.IsInf(s.Hi, 0) {
		s.Hi = s.Median
	}
	return s
}

func (c Comparison) writeWarnings(w io.Writer, bullet string) {
	var lines []string
	seen := map[string]bool{}
	for _, r := range c.Rows {
		for _, msg := range r.Warnings {
			line := r.Group + " " + r.Metric + ": " + msg
			if !seen[line] {
				seen[line] = true
				lines = append(lines, line)
			}
		}
	}
	lines = append(lines, c.Warnings...)
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w)
	for _, l := range lines {
		fmt.Fprintf(w, "%swarning: %s\n", bullet, l)
	}
}

func (r Row) delta() string {
	if !r.Significant {
		return "~"
	}
	if math.IsInf(r.DeltaPct, 0) {
		return "?"
	}
	return fmt.Sprintf("%+.2f%%", r.DeltaPct)
}

func verdictWord(v string) string {
	switch v {
	case "regression":
		return "REGRESSION"
	case "improvement":
		return "better"
	case "same":
		return "within threshold"
	}
	return ""
}

// formatStat prints "1.23k req/s ±4%".
func formatStat(s Stat, unit string) string {
	return fmt.Sprintf("%s %s ±%s", compact(s.Median), unit, ciPct(s))
}

func ciPct(s Stat) string {
	if math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0) {
		return "∞"
	}
	if s.Median == 0 {
		return "0%"
	}
	v := math.Max(s.Hi/s.Median-1, 1-s.Lo/s.Median)
	return fmt.Sprintf("%.0f%%", 100*math.Abs(v))
}

// compact prints a value with 4 significant digits and a k/M suffix.
func compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.4gM", v/1e6), ".0")
	case a >= 1e4:
		return fmt.Sprintf("%.4gk", v/1e3)
	}
	return fmt.Sprintf("%.4g", v)
}
