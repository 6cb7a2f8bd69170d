package loadgen

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ukbench/ukbench/results"
)

// TestDescribeSweepIsComplete: the load description holds the generator's
// settings and the sweep's, for DNS and HTTP alike, with nothing left for a
// caller to patch.
func TestDescribeSweepIsComplete(t *testing.T) {
	limits := Limits{LateAfter: 2 * time.Millisecond, MaxLateFraction: 0.02, TimerSlack: 20 * time.Microsecond}
	d, err := NewDNS(DNSConfig{Server: "127.0.0.1:5353", Sockets: 2, Timeout: time.Second, Arrivals: Constant, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHTTP(HTTPConfig{URL: "http://127.0.0.1:8080/", Connections: 4, Timeout: time.Second, Arrivals: Constant, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	cfg := SweepConfig{Warmup: 3 * time.Second, Criteria: Criteria{MinAchieved: 0.99, MaxLoss: 0.002, SLOP99: 5 * time.Millisecond}}
	for _, gen := range []Generator{d, h} {
		info := DescribeSweep(gen, cfg)
		if info.WarmupS != 3 || info.SLOP99US != 5000 || info.MaxLoss != 0.002 || info.TimerSlackUS != 20 || info.LateAfterUS != 2000 || info.MaxLateFrac != 0.02 || info.TimeoutMS != 1000 {
			t.Errorf("%T: %+v, want warm-up 3 s, SLO 5000 µs, max loss 0.002, slack 20 µs, late after 2000 µs, late fraction 0.02, timeout 1000 ms", gen, info)
		}
	}
}

// TestRecordSweepFillsTheRecord: the sweep's steps, its answer and each
// step's histogram log go into the record, and OnStep sees a step after
// it is recorded.
func TestRecordSweepFillsTheRecord(t *testing.T) {
	dir := t.TempDir()
	var rec results.Run
	seen := 0
	histErr, err := RecordSweep(context.Background(), &histGenerator{kneeGenerator{knee: 1500}}, SweepConfig{
		Rates: []float64{1000, 2000}, Step: time.Second, Criteria: DefaultCriteria,
		OnStep: func(o StepOutcome) {
			seen++
			if len(rec.Steps) != seen {
				t.Errorf("OnStep of step %d sees %d recorded steps", seen, len(rec.Steps))
			}
		},
	}, dir, &rec)
	if err != nil || histErr != nil {
		t.Fatal(err, histErr)
	}
	if len(rec.Steps) != 2 || rec.MaxSustainableRPS != 1000 || rec.MaxSustainableBound == nil || !*rec.MaxSustainableBound || rec.Load == nil {
		t.Fatalf("record %+v, want 2 steps, max 1000, bounded, with its load", rec)
	}
	for i, st := range rec.Steps {
		if _, err := os.Stat(filepath.Join(dir, results.HistFileName(i+1, st.OfferedRPS))); err != nil {
			t.Error(err)
		}
	}
}

// histGenerator is a kneeGenerator whose steps have (empty) histograms.
type histGenerator struct{ kneeGenerator }

func (g *histGenerator) RunStep(ctx context.Context, s StepSpec) (StepOutcome, error) {
	out, err := g.kneeGenerator.RunStep(ctx, s)
	out.Hist = NewRecorder()
	return out, err
}
