package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// SweepConfig describes a rate sweep.
type SweepConfig struct {
	Rates    []float64     // offered rates, in order
	Step     time.Duration // measured window per rate
	Warmup   time.Duration // discarded lead-in per rate
	Criteria Criteria
	// FindMax stops the listed rates at the first unsustainable one and
	// bisects between it and the last sustainable one.
	FindMax bool
	// BisectSteps bounds the bisection; default DefaultBisectSteps.
	BisectSteps int
	// Resolution ends the bisection when (bad-good)/bad falls below it;
	// default DefaultResolution.
	Resolution float64
	// Retries: with FindMax, an unsustainable listed rate is run again up
	// to this many times before the search stops there, so one noisy step
	// does not end it. Every run is kept (phase "retry"). 0 means none
	// (callers offer DefaultRetries).
	Retries int
	// OnStep, if set, sees each finished step (to print or store it)
	// before the sweep goes on.
	OnStep func(StepOutcome)
	// Progress is passed to each step.
	Progress func(Live)
}

// Validate checks what a sweep cannot run with: no rates, a rate that is
// not above 0, a step shorter than MinStep, a negative warm-up. Errors
// wrap ErrConfig. Sweep calls it; a config validator can call it (or
// CheckStepLength) to refuse a sweep before anything boots.
func (c SweepConfig) Validate() error {
	if len(c.Rates) == 0 {
		return fmt.Errorf("%w: no rates to sweep", ErrConfig)
	}
	for _, r := range c.Rates {
		if err := checkStepParts(r, c.Step, c.Warmup); err != nil {
			return err
		}
	}
	return nil
}

// SweepResult is what a sweep finished.
type SweepResult struct {
	Steps []StepOutcome
	// MaxSustainableRPS is the highest offered rate whose step met the
	// criteria (0 when none did).
	MaxSustainableRPS float64
	// Bound says whether MaxSustainableRPS is bounded from above by a
	// failing step; false means the server kept up with every rate tried
	// (a listed rate that failed and then held on its retry counts as
	// held). RecordSweep carries it into the run record.
	Bound bool
}

// Sweep runs the configured steps against gen. On error (including ctx
// cancellation) it returns the steps finished so far with the error.
func Sweep(ctx context.Context, gen Generator, cfg SweepConfig) (SweepResult, error) {
	if err := cfg.Validate(); err != nil {
		return SweepResult{}, err
	}
	if cfg.BisectSteps == 0 {
		cfg.BisectSteps = DefaultBisectSteps
	}
	if cfg.Resolution == 0 {
		cfg.Resolution = DefaultResolution
	}
	var res SweepResult
	run := func(rate float64, phase string) (bool, error) {
		out, err := gen.RunStep(ctx, StepSpec{Rate: rate, Warmup: cfg.Warmup, Duration: cfg.Step, Progress: cfg.Progress})
		if err != nil {
			return false, err
		}
		ok, why := cfg.Criteria.Sustainable(out.Step)
		out.Step.Sustainable = ok
		out.Step.NotSustainableReason = why
		out.Step.Phase = phase
		res.Steps = append(res.Steps, out)
		if ok && rate > res.MaxSustainableRPS {
			res.MaxSustainableRPS = rate
		}
		if cfg.OnStep != nil {
			cfg.OnStep(out)
		}
		return ok, nil
	}
	good, bad := 0.0, math.Inf(1)
	for _, r := range cfg.Rates {
		ok, err := run(r, "sweep")
		for try := 0; err == nil && !ok && cfg.FindMax && try < cfg.Retries; try++ {
			ok, err = run(r, "retry")
		}
		if err != nil {
			res.Bound = !math.IsInf(bad, 1) // what the finished rates say
			return res, err
		}
		if ok {
			good = math.Max(good, r)
		} else {
			bad = math.Min(bad, r)
			if cfg.FindMax {
				break
			}
		}
	}
	res.Bound = !math.IsInf(bad, 1)
	if !cfg.FindMax || !res.Bound {
		return res, nil
	}
	lo := 0.0
	if good < bad {
		lo = good
	}
	hi := bad
	for i := 0; i < cfg.BisectSteps && (hi-lo)/hi >= cfg.Resolution; i++ {
		mid := math.Round((lo + hi) / 2)
		if mid <= lo || mid >= hi {
			break
		}
		ok, err := run(mid, "bisect")
		if err != nil {
			return res, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
		res.Bound = true
	}
	return res, nil
}

// IsInterrupted reports whether err came from a cancelled context.
func IsInterrupted(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
