package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// failedRun is one run that ended with an error, as the report lists it.
type failedRun struct {
	Target   string // as the summary names it ("label: target" for several sources)
	Workload string
	Repeat   int
	Error    string
}

// failedRuns lists every run with an error, by target, workload and
// repeat.
func failedRuns(sources []Source) []failedRun {
	var out []failedRun
	for _, src := range sources {
		for _, r := range src.Runs {
			if r.Error == "" {
				continue
			}
			name := r.Target
			if len(sources) > 1 {
				name = src.Label + ": " + r.Target
			}
			out = append(out, failedRun{Target: name, Workload: r.Workload, Repeat: r.Repeat, Error: r.Error})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		if a.Workload != b.Workload {
			return a.Workload < b.Workload
		}
		return a.Repeat < b.Repeat
	})
	return out
}

// errorsCell is the summary's errors column: the runs that failed, then
// the worst loss of the steps that ran; "none" only when neither.
func errorsCell(s *series) string {
	var parts []string
	switch {
	case s.Failed == 0:
	case s.Failed == s.Runs && s.Runs == 1:
		parts = append(parts, "the run failed (see Failed runs)")
	case s.Failed == s.Runs:
		parts = append(parts, fmt.Sprintf("all %d runs failed (see Failed runs)", s.Runs))
	default:
		parts = append(parts, fmt.Sprintf("%d of %d runs failed (see Failed runs)", s.Failed, s.Runs))
	}
	if l := lossCell(s); l != "none" {
		parts = append(parts, l)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// writeFailedMarkdown writes the Failed runs section, if any run failed.
func writeFailedMarkdown(w io.Writer, failed []failedRun) {
	if len(failed) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Failed runs\n\n")
	fmt.Fprintf(w, "The steps a run finished before its error are kept in results.csv.\n\n")
	fmt.Fprintln(w, "| target | workload | repeat | error |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, f := range failed {
		fmt.Fprintf(w, "| %s | %s | %d | %s |\n", mdCell(f.Target), mdCell(f.Workload), f.Repeat, mdCell(f.Error))
	}
}

// mdCell makes text safe in a Markdown table cell: one line, pipes
// escaped.
func mdCell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// oneLine collapses every run of white space (newlines too) to one space.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
