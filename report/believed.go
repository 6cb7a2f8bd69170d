package report

import (
	"fmt"

	"github.com/ukbench/ukbench/results"
)

// believed keeps the runs of one result set that a report may plot,
// tabulate or compare (results.Believer) and says what it left out, a
// warning per run. Runs read with results.ReadRunsWarn are believed
// already (the reader warned of the rest); this holds for runs that come
// from elsewhere too.
func believed(runs []results.Run) (kept []results.Run, left []results.Warning) {
	var b results.Believer
	kept = runs[:0:0]
	for _, r := range runs {
		if err := b.Believe(r, ""); err != nil {
			left = append(left, results.Warning{Msg: fmt.Sprintf("run %s %s #%d left out: %v", r.Target, r.Workload, r.Repeat, err), Err: err})
			continue
		}
		kept = append(kept, r)
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
		for _, w := range left {
			w.File = file
			warns = append(warns, w)
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
