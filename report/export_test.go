package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"golang.org/x/perf/benchfmt"
)

// TestGoBenchReadByBenchfmt parses the export with benchstat's own reader:
// one result per run, every metric a value, and the better direction of
// each unit carried as metadata.
func TestGoBenchReadByBenchfmt(t *testing.T) {
	runs := runsOf("osv", "tcg", base10...)
	var b bytes.Buffer
	if err := WriteGoBench(&b, runs); err != nil {
		t.Fatal(err)
	}
	r := benchfmt.NewReader(&b, "export")
	n := 0
	for r.Scan() {
		switch rec := r.Result().(type) {
		case *benchfmt.Result:
			n++
			if got := string(rec.Name.Full()); got != "Ukbench/workload=dns/target=osv" {
				t.Errorf("name %q", got)
			}
			if v, ok := rec.Value("max_rps"); !ok || v <= 0 {
				t.Errorf("max_rps value %v %v", v, ok)
			}
		case *benchfmt.SyntaxError:
			t.Fatalf("benchfmt: %v", rec)
		}
	}
	if n != len(runs) {
		t.Errorf("%d results, want one per run (%d)", n, len(runs))
	}
	units := r.Units()
	if m := units.Get("p99_us@1000", "better"); m == nil || m.Value != "lower" {
		t.Errorf("p99 better = %v, want lower", m)
	}
	if m := units.Get("max_rps", "better"); m == nil || m.Value != "higher" {
		t.Errorf("max_rps better = %v, want higher", m)
	}
	if m := units.Get("max_rps", "assume"); m == nil || m.Value != "nothing" {
		t.Errorf("max_rps assume = %v, want nothing", m)
	}
}

func TestBMF(t *testing.T) {
	var b bytes.Buffer
	if err := WriteBMF(&b, runsOf("osv", "tcg", base10...)); err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]struct {
		Value float64  `json:"value"`
		Lower *float64 `json:"lower_value"`
		Upper *float64 `json:"upper_value"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	m := got["osv/dns"]["max_rps"]
	if m.Value != 1002.5 || m.Lower == nil || m.Upper == nil || *m.Lower > m.Value || *m.Upper < m.Value {
		t.Errorf("max_rps measure %+v, want the median 1002.5 inside its bounds", m)
	}
	// Two repeats are too few for a 95 % interval: no bounds.
	b.Reset()
	WriteBMF(&b, runsOf("osv", "tcg", 1000, 1010))
	json.Unmarshal(b.Bytes(), &got)
	if m := got["osv/dns"]["max_rps"]; m.Lower != nil {
		t.Errorf("two repeats: bounds %v–%v, want none", *m.Lower, *m.Upper)
	}
}
