package main

import (
	"context"
	"testing"
	"time"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
)

// TestMaxLine: `load` and `run` sum up a sweep the same way.
func TestMaxLine(t *testing.T) {
	ok := results.Step{OfferedRPS: 1000, Sustainable: true}
	bad := results.Step{OfferedRPS: 2000}
	for _, tc := range []struct {
		steps []results.Step
		max   float64
		want  string
	}{
		{nil, 0, "no step finished"},
		{[]results.Step{bad}, 0, "max sustainable rate: none of the rates tried was sustainable"},
		{[]results.Step{ok}, 1000, "max sustainable rate: ≥ 1000/s (every rate tried was sustainable)"},
		{[]results.Step{ok, bad}, 1000, "max sustainable rate: 1000/s"},
	} {
		if got := maxLine(results.Run{Steps: tc.steps, MaxSustainableRPS: tc.max}); got != tc.want {
			t.Errorf("maxLine(%d steps, %v) = %q, want %q", len(tc.steps), tc.max, got, tc.want)
		}
	}
}

// flakyGenerator is a fake server that keeps up with every rate but whose
// first step at flaky loses everything, as a noisy machine might.
type flakyGenerator struct {
	flaky  float64
	failed bool
}

func (g *flakyGenerator) RunStep(_ context.Context, s loadgen.StepSpec) (loadgen.StepOutcome, error) {
	sent := uint64(s.Rate * s.Duration.Seconds())
	answered := sent
	if s.Rate == g.flaky && !g.failed {
		g.failed, answered = true, 0
	}
	return loadgen.StepOutcome{Step: results.Step{
		OfferedRPS: s.Rate, DurationS: s.Duration.Seconds(), Sent: sent, Answered: answered,
		AchievedRPS: float64(answered) / s.Duration.Seconds(), Valid: true,
	}}, nil
}

func (g *flakyGenerator) Describe() results.LoadInfo { return results.LoadInfo{} }

// TestMaxLineOfARetriedRateThatHeld: a sweep of 1000,2000 whose first try at
// 2000 fails and whose retry holds kept up with every rate, so its maximum
// is only a lower bound, though one of its steps was not sustainable.
func TestMaxLineOfARetriedRateThatHeld(t *testing.T) {
	var rec results.Run
	_, err := loadgen.RecordSweep(context.Background(), &flakyGenerator{flaky: 2000}, loadgen.SweepConfig{
		Rates: []float64{1000, 2000}, Step: time.Second, Criteria: loadgen.DefaultCriteria, FindMax: true, Retries: 1,
	}, "", &rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Steps) != 3 || rec.Steps[1].Sustainable || !rec.Steps[2].Sustainable {
		t.Fatalf("steps %+v, want 1000 held, 2000 failed, 2000 held on its retry", rec.Steps)
	}
	if rec.MaxSustainableBound == nil || *rec.MaxSustainableBound {
		t.Errorf("record's max_sustainable_bound %v, want false", rec.MaxSustainableBound)
	}
	if got, want := maxLine(rec), "max sustainable rate: ≥ 2000/s (every rate tried was sustainable)"; got != want {
		t.Errorf("maxLine = %q, want %q", got, want)
	}
}
