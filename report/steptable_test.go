package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ukbench/ukbench/results"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestStepTableGolden(t *testing.T) {
	steps := []results.Step{
		{OfferedRPS: 1000, Sent: 10000, Answered: 10000, AchievedRPS: 1000, Valid: true, Sustainable: true,
			LatencyUS: results.Latency{P50: 210, P90: 380, P99: 900, P999: 2100, Max: 3900}},
		{OfferedRPS: 20000, Sent: 200000, Answered: 150000, AchievedRPS: 15000, Valid: false,
			Lag:                  results.Lag{LateSends: 4000},
			NotSustainableReason: "invalid: schedule not kept: 2.00% of sends left more than 1ms late (limit 1.00%)",
			Errors:               map[string]uint64{"timeout": 49000, "rcode_SERVFAIL": 1000},
			LatencyUS:            results.Latency{P50: 12000, P90: 250000, P99: 1900000, P999: 2000000, Max: 2000001}},
		{OfferedRPS: 500}, // a step with nothing sent: loss 100 %, no latency
		// The generator's own delay limits p99 and above: marked, and the
		// mark explained once.
		{OfferedRPS: 4000, Sent: 40000, Answered: 40000, AchievedRPS: 4000, Valid: true, Sustainable: true,
			LatencyUS:        results.Latency{P50: 150, P90: 300, P99: 2400, P999: 5000, Max: 9000},
			SendDelayUS:      results.Latency{P50: 10, P90: 20, P99: 2100, P999: 4800, Max: 8900},
			GeneratorLimited: []string{"p99", "p999", "max"}},
		{OfferedRPS: 8000, Sent: 80000, Answered: 80000, AchievedRPS: 8000, Valid: true, Sustainable: true,
			LatencyUS: results.Latency{P50: 150, P90: 300, P99: 2400, P999: 5000, Max: 9000}, GeneratorLimited: []string{"p50"}},
	}
	var b bytes.Buffer
	tab := NewStepTable(&b)
	for _, s := range steps {
		tab.Row(s)
	}
	path := filepath.Join("testdata", "steptable.golden")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("step table differs from %s:\n%s", path, b.String())
	}
}
