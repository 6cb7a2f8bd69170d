package results

import (
	"errors"
	"strings"
	"testing"
)

// TestBelieverKeepsTheFirstCheckedRecordOfARun: a refused record is not
// remembered (a later good record of its run is believed), a second
// believed record of a run is a duplicate naming where the first was, and
// another repeat of the run is a run of its own.
func TestBelieverKeepsTheFirstCheckedRecordOfARun(t *testing.T) {
	good := func(repeat int) Run {
		return Run{Target: "osv", Workload: "dns", Repeat: repeat, MaxSustainableRPS: 500, Steps: []Step{{
			OfferedRPS: 500, DurationS: 5, Sent: 2500, Answered: 2500, AchievedRPS: 500, Valid: true, Sustainable: true,
			LatencyUS: Latency{P50: 300, P90: 400, P99: 900, P999: 1000, Max: 2000, Mean: 350},
		}}}
	}
	bad := good(1)
	bad.Steps = []Step{{OfferedRPS: -500}}
	var b Believer
	if err := b.Believe(bad, "line 1"); !errors.Is(err, ErrImplausible) {
		t.Errorf("Believe(offered -500/s) = %v, want ErrImplausible", err)
	}
	if err := b.Believe(good(1), "line 2"); err != nil {
		t.Errorf("Believe(run 1 after its refused record) = %v", err)
	}
	if err := b.Believe(good(2), "line 3"); err != nil {
		t.Errorf("Believe(run 2) = %v", err)
	}
	if err := b.Believe(good(1), "line 4"); !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), "line 2 has it already") {
		t.Errorf("Believe(run 1 again) = %v, want ErrDuplicate naming line 2", err)
	}
	var unplaced Believer
	unplaced.Believe(good(1), "")
	if err := unplaced.Believe(good(1), ""); !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), "an earlier record of it is used") {
		t.Errorf("Believe(run 1 again, no place) = %v", err)
	}
}
