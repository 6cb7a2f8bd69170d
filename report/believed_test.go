package report

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/results"
)

// Runs that do not come through results.ReadRunsWarn are checked too: a
// step at −500/s (which became a target's summary row, "-5.00 µs at
// -500/s"), `steps: [{}]` ("no answers at 0/s") and a second record of a
// run are left out of every table and figure, with a warning each.
func TestWriteLeavesOutWhatIsNotBelieved(t *testing.T) {
	runs := runsOf("osv", "tcg", 1400, 1420)
	neg := runsOf("linux", "tcg", 1000)[0]
	neg.Steps[0].OfferedRPS = -500
	empty := results.Run{Target: "native", Workload: "dns", Repeat: 1, Accel: "tcg", Steps: []results.Step{{}}}
	runs = append(runs, neg, empty, runs[0])
	dir := t.TempDir()
	w, err := Write(dir, []Source{{Label: "x", Runs: runs, Dir: "resdir"}}, []string{"svg"})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Warnings) != 3 {
		t.Fatalf("warnings %v, want three runs left out", w.Warnings)
	}
	for i, want := range []string{"run linux dns #1 left out: implausible result: steps[0].offered_rps: -500",
		"run native dns #1 left out: implausible result: steps[0].offered_rps: 0", "run osv dns #1 left out: run recorded twice"} {
		if w.Warnings[i].File != "resdir" || !strings.Contains(w.Warnings[i].Msg, want) {
			t.Errorf("warning %d: %s, want resdir: %q", i, w.Warnings[i], want)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	csv, _ := os.ReadFile(filepath.Join(dir, "results.csv"))
	for name, b := range map[string][]byte{"report.md": md, "results.csv": csv} {
		if strings.Contains(string(b), "linux") || strings.Contains(string(b), "native") || strings.Contains(string(b), "-500") {
			t.Errorf("%s shows a run left out:\n%s", name, b)
		}
	}
	if !strings.Contains(string(md), "| osv | dns | tcg | 2 |") {
		t.Errorf("report.md: want osv's two runs, once each:\n%s", md)
	}
}

// A run recorded twice was counted twice in compare's rank test: now the
// second record is left out, with a warning, and each side holds each
// repeat once.
func TestCompareCountsARunOnce(t *testing.T) {
	base := runsOf("osv", "tcg", 1000, 1010, 990)
	base = append(base, base[2])
	bad := runsOf("osv", "tcg", 1000)[0]
	bad.Repeat, bad.Steps[0].AchievedRPS = 9, 1e308
	base = append(base, bad)
	c, err := Compare(Side{Label: "b", Runs: base}, Side{Label: "n", Runs: runsOf("osv", "tcg", 1000, 1010, 990)}, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := rowOf(t, c, "max_rps"); r.Base.N != 3 {
		t.Errorf("base sample of %d runs, want 3", r.Base.N)
	}
	all := strings.Join(c.Warnings, "\n")
	if !strings.Contains(all, "b: run osv dns #3 left out: run recorded twice") || !strings.Contains(all, "b: run osv dns #9 left out: implausible result: steps[0].achieved_rps") {
		t.Errorf("warnings %q: want the duplicate and the implausible run named", c.Warnings)
	}
}

// The export formats leave out what a report leaves out.
func TestExportLeavesOutWhatIsNotBelieved(t *testing.T) {
	runs := runsOf("osv", "tcg", 1000)
	bad := runsOf("linux", "tcg", 1000)[0]
	bad.Steps[0].Answered = 2000
	var b bytes.Buffer
	if err := WriteGoBench(&b, append(runs, bad)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "linux") || !strings.Contains(b.String(), "osv") {
		t.Errorf("go bench output:\n%s\nwant osv alone", b.String())
	}
	b.Reset()
	if err := WriteBMF(&b, append(runs, bad)); err != nil || strings.Contains(b.String(), "linux") {
		t.Errorf("BMF output %v:\n%s\nwant osv alone", err, b.String())
	}
}

// A figure that is not finite is never printed as "+Inf" (two agents'
// 1.7e308/s once merged to +Inf, and the table printed it).
func TestStepTableNeverPrintsInf(t *testing.T) {
	var b bytes.Buffer
	NewStepTable(&b).Row(results.Step{OfferedRPS: 1000, AchievedRPS: math.Inf(1), LatencyUS: results.Latency{P99: math.NaN()}})
	if strings.Contains(b.String(), "Inf") || strings.Contains(b.String(), "NaN") || !strings.Contains(b.String(), "?") {
		t.Errorf("row %q: want ? for what is not finite", b.String())
	}
}
