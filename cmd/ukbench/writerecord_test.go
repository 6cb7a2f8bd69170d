package main

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/results"
)

// `ukbench load --out`: a step holding +Inf (two agents' rates that
// overflowed) no longer fails the write and loses every step: the record
// is written, that step invalid, the run's error and a warning saying why.
func TestWriteRecordNonFinite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.json")
	ok := results.Step{OfferedRPS: 100, DurationS: 1, Sent: 100, Answered: 100, AchievedRPS: 100, Valid: true, Sustainable: true}
	bad := ok
	bad.OfferedRPS, bad.AchievedRPS = 200, math.Inf(1)
	var stderr bytes.Buffer
	if err := writeRecord(path, results.Run{Target: "external", Workload: "dns", Repeat: 1, Steps: []results.Step{ok, bad}}, &stderr); err != nil {
		t.Fatalf("writeRecord: %v", err)
	}
	runs, err := results.ReadRuns(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := runs[0].Steps; len(s) != 2 || !s[0].Valid || s[1].Valid || !strings.Contains(runs[0].Error, "steps[1].achieved_rps") {
		t.Errorf("record %+v: want both steps, the second invalid and named in the error", runs[0])
	}
	if !strings.Contains(stderr.String(), "warning: ") || !strings.Contains(stderr.String(), "steps[1].achieved_rps") {
		t.Errorf("stderr %q: want a warning naming the field", stderr.String())
	}
}
