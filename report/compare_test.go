package report

import (
	"errors"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/results"
)

// runsOf makes one run per value: max_rps is the value, and one step at
// 1000/s has p99 latency 1e6/value µs (so a faster server has both a
// higher rate and a lower latency).
func runsOf(target, accel string, vals ...float64) []results.Run {
	var runs []results.Run
	for i, v := range vals {
		var lat results.Latency
		if v > 0 {
			lat = results.Latency{P50: 5e5 / v, P90: 5e5 / v, P99: 1e6 / v, P999: 1e6 / v, Max: 1e6 / v, Mean: 5e5 / v}
		}
		runs = append(runs, results.Run{
			Target: target, Workload: "dns", Repeat: i + 1, Accel: accel, MaxSustainableRPS: v,
			Steps: []results.Step{{OfferedRPS: 1000, DurationS: 1, Sent: 1000, Answered: 1000, AchievedRPS: 1000,
				LatencyUS: lat, Phase: "sweep"}},
		})
	}
	return runs
}

func scaled(vals []float64, f float64) []float64 {
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = v * f
	}
	return out
}

func rowOf(t *testing.T, c Comparison, metric string) Row {
	t.Helper()
	for _, r := range c.Rows {
		if r.Metric == metric {
			return r
		}
	}
	t.Fatalf("no row %q in %+v", metric, c.Rows)
	return Row{}
}

// Ten repeats with ±2 % noise, as on a quiet machine.
var base10 = []float64{1000, 1012, 995, 1020, 987, 1005, 998, 1015, 990, 1008}

func TestCompareSyntheticSamples(t *testing.T) {
	tests := []struct {
		name        string
		base, new   []float64
		wantMax     string // verdict for max_rps
		wantP99     string // verdict for p99 latency at 1000/s
		regressions int
	}{
		{"identical", base10, base10, "~", "~", 0},
		{"10% slower", base10, scaled(base10, 0.9), "regression", "regression", 2},
		{"10% faster", base10, scaled(base10, 1.1), "improvement", "improvement", 0},
		{"2% slower: significant, within the threshold", base10, scaled(base10, 0.98), "same", "same", 0},
		{"noisy, overlapping", base10, []float64{1030, 975, 1001, 1019, 992, 1010, 985, 1003, 996, 1012}, "~", "~", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compare(Side{Label: "a", Runs: runsOf("osv", "tcg", tt.base...)},
				Side{Label: "b", Runs: runsOf("osv", "tcg", tt.new...)}, CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rowOf(t, c, "max_rps").Verdict; got != tt.wantMax {
				t.Errorf("max_rps verdict %q, want %q (%+v)", got, tt.wantMax, rowOf(t, c, "max_rps"))
			}
			if got := rowOf(t, c, "p99_us@1000").Verdict; got != tt.wantP99 {
				t.Errorf("p99 verdict %q, want %q", got, tt.wantP99)
			}
			// p50 moves with p99, so it is a third signal of the same change.
			want := tt.regressions
			if want > 0 {
				want++
			}
			if c.Regressions != want {
				t.Errorf("%d regressions, want %d", c.Regressions, want)
			}
		})
	}
}

func TestCompareTooFewRepeatsWarns(t *testing.T) {
	c, err := Compare(Side{Label: "a", Runs: runsOf("osv", "tcg", 1000, 1010)},
		Side{Label: "b", Runs: runsOf("osv", "tcg", 500, 505)}, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := rowOf(t, c, "max_rps")
	if r.Verdict != "~" {
		t.Errorf("2 repeats each, halved: verdict %q; with n=2 the U test cannot reach α=0.05", r.Verdict)
	}
	joined := strings.Join(r.Warnings, "; ")
	if !strings.Contains(joined, "need >= 4 samples to detect a difference") {
		t.Errorf("warnings %q, want the too-few-repeats warning", joined)
	}
}

func TestCompareRefusesMismatchedAccelerators(t *testing.T) {
	base := Side{Label: "a", Runs: runsOf("osv", "kvm", base10...)}
	new := Side{Label: "b", Runs: runsOf("osv", "tcg", base10...)}
	if _, err := Compare(base, new, CompareOptions{}); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "a ran on kvm, b on tcg") {
		t.Errorf("err = %v, want ErrMismatch naming both accelerators", err)
	}
	shapeA := Side{Label: "a", Runs: runsOf("osv", "tcg", base10...), VMShape: `{"memory_mib":1024,"vcpus":1}`}
	shapeB := Side{Label: "b", Runs: runsOf("osv", "tcg", base10...), VMShape: `{"memory_mib":512,"vcpus":1}`}
	if _, err := Compare(shapeA, shapeB, CompareOptions{}); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "VM shapes differ") {
		t.Errorf("err = %v, want ErrMismatch for different VM shapes", err)
	}
	if _, err := Compare(shapeA, shapeA, CompareOptions{}); err != nil {
		t.Errorf("err = %v, want ErrMismatch naming both accelerators", err)
	}
	c, err := Compare(base, new, CompareOptions{AllowMismatch: true})
	if err != nil || len(c.Warnings) == 0 {
		t.Errorf("with AllowMismatch: err %v, warnings %v; want a warning", err, c.Warnings)
	}
}

func TestCompareAcrossTargetsInOneDirectory(t *testing.T) {
	runs := append(runsOf("linux", "tcg", base10...), runsOf("osv", "tcg", scaled(base10, 1.4)...)...)
	c, err := Compare(Side{Label: "linux", Runs: runs, Target: "linux"}, Side{Label: "osv", Runs: runs, Target: "osv"}, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := rowOf(t, c, "max_rps")
	if r.Group != "dns" || r.Verdict != "improvement" || r.DeltaPct < 39 || r.DeltaPct > 41 {
		t.Errorf("osv vs linux: %+v, want dns improved by 40%%", r)
	}
}

func TestCompareMetricFilterAndMissingGroups(t *testing.T) {
	base := runsOf("osv", "tcg", base10...)
	new := append(runsOf("osv", "tcg", base10...), runsOf("linux", "tcg", base10...)...)
	c, err := Compare(Side{Label: "a", Runs: base}, Side{Label: "b", Runs: new}, CompareOptions{Metrics: []string{"max_rps"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != 1 || c.Rows[0].Metric != "max_rps" {
		t.Errorf("rows %+v, want only max_rps", c.Rows)
	}
	if len(c.Warnings) != 1 || c.Warnings[0] != "linux/dns: only in b" {
		t.Errorf("warnings %v, want the group only in b named", c.Warnings)
	}
}

// A CI gate must not pass on nothing: an unknown metric, a target with no
// runs, or no metric measured on both sides is ErrNothingCompared.
func TestCompareRefusesToCompareNothing(t *testing.T) {
	runs := runsOf("osv", "tcg", base10...)
	a, b := Side{Label: "a", Runs: runs}, Side{Label: "b", Runs: runs}
	for _, tt := range []struct {
		name       string
		base, new  Side
		metrics    []string
		wantInText string
	}{
		{"unknown metric", a, b, []string{"bogus"}, `metric "bogus": no such metric; want a prefix of max_rps, boot_qemu_start_ms`},
		{"unknown among known", a, b, []string{"max_rps", "p98"}, `metric "p98"`},
		{"empty prefix", a, b, []string{"max_rps", ""}, `metric ""`},
		{"known metric, rate not run", a, b, []string{"p99_us@777"}, "no metric matching p99_us@777 was measured on both sides"},
		{"no common group", a, Side{Label: "b", Runs: runsOf("linux", "tcg", base10...)}, nil, "no metric was measured on both sides (linux/dns: only in b; osv/dns: only in a)"},
		{"missing new target", Side{Label: "d", Runs: runs, Target: "osv"}, Side{Label: "d", Runs: runs, Target: "nope"}, nil, `target "nope" has no runs; the results have runs of osv`},
		{"missing base target", Side{Label: "d", Runs: runs, Target: "nope"}, Side{Label: "d", Runs: runs, Target: "osv"}, nil, `target "nope"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compare(tt.base, tt.new, CompareOptions{Metrics: tt.metrics})
			if !errors.Is(err, ErrNothingCompared) || !strings.Contains(err.Error(), tt.wantInText) {
				t.Errorf("err = %v, want ErrNothingCompared with %q", err, tt.wantInText)
			}
		})
	}
	// Known prefixes, whole names and a rate pass.
	for _, m := range []string{"max", "p", "p99_us@1000", "achieved_rps@"} {
		if c, err := Compare(a, b, CompareOptions{Metrics: []string{m}}); err != nil || len(c.Rows) == 0 {
			t.Errorf("--metric %s: %d rows, %v", m, len(c.Rows), err)
		}
	}
}
