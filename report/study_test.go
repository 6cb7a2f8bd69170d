package report

import (
	"strings"
	"testing"

	"github.com/ukbench/ukbench/results"
)

// TestStudyVsThisRun: the study's rows are labelled as the study's and
// carry its figures; this run's rows carry only measured values, with the
// OSv/Linux ratio computed from them; a pair whose OSv side did not run
// says so.
func TestStudyVsThisRun(t *testing.T) {
	runs := append(runsOf("linux-bind", "tcg", 2000, 2000, 2000), runsOf("osv", "tcg", 3000, 3000, 3000)...)
	runs = append(runs, runsOf("linux", "tcg", 2500)...)
	for i := range runs {
		runs[i].Steps[0].Sustainable = false // bounded maxima
	}
	http := runsOf("linux-apache", "tcg", 1000)
	http[0].Workload = "http"
	runs = append(runs, http...)
	tables := studyTables(buildSeries([]Source{{Label: "x", Runs: runs}}))
	if len(tables) != 2 || tables[0].Workload != "dns" || tables[1].Workload != "http" {
		t.Fatalf("tables %+v, want dns and http", tables)
	}
	dns := tables[0].Rows
	if !strings.HasPrefix(dns[0][0], StudyLabel) || !strings.Contains(dns[0][2], "19k") || !strings.Contains(dns[0][3], "28k") || dns[0][4] != "≈ 1.47" {
		t.Errorf("study row %q", dns[0])
	}
	var pair, latency, controlled []string
	for _, r := range dns[1:] {
		if strings.HasPrefix(r[0], StudyLabel) {
			t.Errorf("a measured row is labelled as the study's: %q", r)
		}
		switch {
		case strings.Contains(r[0], "linux-bind") && r[1] == "max sustainable req/s":
			pair = r
		case strings.Contains(r[0], "linux-bind"):
			latency = r
		case strings.Contains(r[0], "linux / osv") && r[1] == "max sustainable req/s":
			controlled = r
		}
	}
	if pair == nil || pair[2] != "2000/s (tcg)" || pair[3] != "3000/s (tcg)" || pair[4] != "1.50" {
		t.Errorf("study pairing row %q, want 2000/s, 3000/s, 1.50", pair)
	}
	if latency == nil || latency[4] != "0.67" { // p99 1e6/v µs: 500 µs vs 333 µs
		t.Errorf("latency row %q, want OSv/Linux 0.67", latency)
	}
	if controlled == nil || controlled[4] != "1.20" {
		t.Errorf("controlled row %q, want 1.20", controlled)
	}
	hr := tables[1].Rows
	if len(hr) != 3 || hr[0][4] != "≥ 1.25" || hr[2][3] != "not run" || hr[2][4] != "–" {
		t.Errorf("http rows %q: want the study's two (ratio ≥ 1.25 at the held 5,000/s) and linux-apache with OSv not run", hr)
	}
	for _, r := range hr[:2] {
		if !strings.HasPrefix(r[0], StudyLabel) {
			t.Errorf("http study row %q not labelled", r)
		}
	}
	// Runs without a study target: no section.
	if got := studyTables(buildSeries([]Source{{Label: "x", Runs: runsOf("native", "none", 1000)}})); len(got) != 0 {
		t.Errorf("tables %+v for a run without the study's targets", got)
	}
}

// TestLossCountsOnlyStepsThatSent: a step in which nothing was sent (the
// run ended first) is no loss; one that sent and got nothing is 100 %.
func TestLossCountsOnlyStepsThatSent(t *testing.T) {
	run := results.Run{Target: "linux", Workload: "dns", Repeat: 1, Accel: "tcg", Steps: []results.Step{
		{OfferedRPS: 1000, Sent: 1000, Answered: 990, AchievedRPS: 990},
		{OfferedRPS: 2000, Sent: 0, Answered: 0},
	}}
	ss := buildSeries([]Source{{Label: "x", Runs: []results.Run{run}}})
	if got := lossCell(ss[0]); got != "up to 1.0% lost" {
		t.Errorf("loss %q, want up to 1.0%% (the step that sent nothing left out)", got)
	}
	run.Steps[1].Sent = 10
	ss = buildSeries([]Source{{Label: "x", Runs: []results.Run{run}}})
	if got := lossCell(ss[0]); got != "up to 100.0% lost" {
		t.Errorf("loss %q, want up to 100.0%%", got)
	}
}
