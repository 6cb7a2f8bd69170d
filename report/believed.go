package report

import (
	"fmt"

	"github.com/ukbench/ukbench/results"
)

// believed keeps the runs of one result set that a report may plot,
// tabulate or compare: those results.CheckRun accepts, and of several
// records of one run (target, workload, repeat) the first. It says what it
// left out, a line per run. Runs read with results.ReadRunsWarn are
// believed already (the reader warned of the rest); this holds for runs
// that come from elsewhere too.
func believed(runs []results.Run) (kept []results.Run, left []string) {
	type key struct {
		target, workload string
		repeat           int
	}
	seen := map[key]bool{}
	kept = runs[:0:0]
	for _, r := range runs {
		k := key{r.Target, r.Workload, r.Repeat}
		switch err := results.CheckRun(r); {
		case err != nil:
			left = append(left, fmt.Sprintf("run %s %s #%d left out: %v", r.Target, r.Workload, r.Repeat, err))
		case seen[k]:
			left = append(left, fmt.Sprintf("run %s %s #%d left out: %v (an earlier record of it is used)", r.Target, r.Workload, r.Repeat, results.ErrDuplicate))
		default:
			seen[k] = true
			kept = append(kept, r)
		}
	}
	return kept, left
}

// believedSources is believed for each source, its warnings naming the
// source's directory (or label).
func believedSources(sources []Source) ([]Source, []results.Warning) {
	var warns []results.Warning
	out := make([]Source, len(sources))
	for i, src := range sources {
		kept, left := believed(src.Runs)
		src.Runs = kept
		out[i] = src
		file := src.Dir
		if file == "" {
			file = src.Label
		}
		for _, msg := range left {
			warns = append(warns, results.Warning{File: file, Msg: msg, Err: results.ErrImplausible})
		}
	}
	return out, warns
}

// believedRuns is believed without its reasons, for the writers that have
// no place for them (their callers read the runs with ReadRunsWarn, which
// warned already).
func believedRuns(runs []results.Run) []results.Run {
	kept, _ := believed(runs)
	return kept
}
