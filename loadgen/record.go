package loadgen

import (
	"context"

	"github.com/ukbench/ukbench/results"
)

// DescribeSweep is the complete description of how a sweep of gen with cfg
// makes its load, for the run record: the generator's settings (Describe)
// and the sweep's own (warm-up, SLO, allowed loss).
func DescribeSweep(gen Generator, cfg SweepConfig) results.LoadInfo {
	info := gen.Describe()
	info.WarmupS = cfg.Warmup.Seconds()
	info.SLOP99US = float64(cfg.Criteria.SLOP99.Microseconds())
	info.MaxLoss = cfg.Criteria.MaxLoss
	return info
}

// RecordSweep is the one path from a sweep to a run record, for `ukbench
// load` and the experiment runner alike. It sets rec.Load to
// DescribeSweep(gen, cfg) and runs the sweep; each finished step has its
// histograms written into histDir (unless histDir is "" or a write failed
// before) as step len(rec.Steps)+1, is appended to rec.Steps, and only then
// goes to cfg.OnStep. At the end it sets the sweep's answer:
// rec.MaxSustainableRPS and rec.MaxSustainableBound. rec.Steps is never
// left nil.
//
// err is the sweep's error, for the caller to record in rec.Error in its
// own words; histErr is the first histogram log that could not be written.
func RecordSweep(ctx context.Context, gen Generator, cfg SweepConfig, histDir string, rec *results.Run) (histErr, err error) {
	info := DescribeSweep(gen, cfg)
	rec.Load = &info
	if rec.Steps == nil {
		rec.Steps = []results.Step{}
	}
	onStep := cfg.OnStep
	cfg.OnStep = func(o StepOutcome) {
		if histDir != "" && histErr == nil {
			histErr = WriteStepLog(histDir, len(rec.Steps)+1, o)
		}
		rec.Steps = append(rec.Steps, o.Step)
		if onStep != nil {
			onStep(o)
		}
	}
	res, err := Sweep(ctx, gen, cfg)
	rec.MaxSustainableRPS = res.MaxSustainableRPS
	rec.MaxSustainableBound = &res.Bound
	return histErr, err
}
