package main

import (
	"testing"

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
		if got := maxLine(tc.steps, tc.max); got != tc.want {
			t.Errorf("maxLine(%d steps, %v) = %q, want %q", len(tc.steps), tc.max, got, tc.want)
		}
	}
}
