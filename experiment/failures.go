package experiment

import (
	"fmt"
	"strings"

	"github.com/ukbench/ukbench/results"
)

// Failure sums up the failed runs of one target's workload.
type Failure struct {
	Target, Workload string
	Failed, Runs     int    // runs with an error, of the runs recorded
	First            RunKey // the first failed run, in plan order
	Error            string // its error
}

// String is the failure on one line, "linux dns: 3 of 3 runs: boot: …",
// its error cut at maxErrorLine characters (runs.jsonl and the report
// hold all of it).
func (f Failure) String() string {
	msg := []rune(strings.Join(strings.Fields(f.Error), " "))
	if len(msg) > maxErrorLine {
		msg = append(msg[:maxErrorLine], []rune(" …")...)
	}
	return fmt.Sprintf("%s %s: %d of %d runs: %s", f.Target, f.Workload, f.Failed, f.Runs, string(msg))
}

// maxErrorLine bounds the error a Failure's line shows: QEMU's stderr and
// a console's last lines can make an error kilobytes long.
const maxErrorLine = 400

// failures groups the failed runs among the plan's recorded runs; it also
// counts those runs.
func failures(plan []PlannedRun, runs []results.Run) (failed []Failure, recorded int) {
	byKey := map[RunKey]results.Run{}
	for _, r := range runs {
		byKey[RunKey{r.Target, r.Workload, r.Repeat}] = r
	}
	type tw struct{ target, workload string }
	idx := map[tw]int{}
	var out []Failure
	for _, pr := range plan {
		r, ok := byKey[pr.Key]
		if !ok {
			continue
		}
		k := tw{pr.Key.Target, pr.Key.Workload}
		i, seen := idx[k]
		if !seen {
			i = len(out)
			idx[k] = i
			out = append(out, Failure{Target: k.target, Workload: k.workload})
		}
		f := &out[i]
		f.Runs++
		recorded++
		if r.Error != "" {
			if f.Failed == 0 {
				f.First, f.Error = pr.Key, r.Error
			}
			f.Failed++
		}
	}
	for _, f := range out {
		if f.Failed > 0 {
			failed = append(failed, f)
		}
	}
	return failed, recorded
}
