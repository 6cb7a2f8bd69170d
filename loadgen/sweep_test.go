package loadgen

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ukbench/ukbench/results"
)

// kneeGenerator is a fake server that keeps up exactly until knee requests/s
// and loses everything above it. It touches no network.
type kneeGenerator struct {
	knee float64
	ran  []float64
}

func (g *kneeGenerator) RunStep(ctx context.Context, s StepSpec) (StepOutcome, error) {
	if err := ctx.Err(); err != nil {
		return StepOutcome{}, err
	}
	g.ran = append(g.ran, s.Rate)
	sent := uint64(s.Rate * s.Duration.Seconds())
	answered := sent
	if s.Rate > g.knee {
		answered = uint64(g.knee * s.Duration.Seconds())
	}
	return StepOutcome{Step: results.Step{
		OfferedRPS: s.Rate, DurationS: s.Duration.Seconds(), Sent: sent, Answered: answered,
		AchievedRPS: float64(answered) / s.Duration.Seconds(), Valid: true,
	}}, nil
}

func (g *kneeGenerator) Describe() results.LoadInfo { return results.LoadInfo{} }

func TestSweepFindMaxBisects(t *testing.T) {
	tests := []struct {
		knee      float64
		rates     []float64
		wantMax   float64 // within resolution below the knee
		wantBound bool
	}{
		{knee: 23300, rates: []float64{10000, 20000, 30000, 40000}, wantMax: 23300, wantBound: true},
		{knee: 5000, rates: []float64{10000, 20000}, wantMax: 5000, wantBound: true},
		{knee: 1e9, rates: []float64{1000, 2000}, wantMax: 2000 * 0.99, wantBound: false},
	}
	for _, tt := range tests {
		g := &kneeGenerator{knee: tt.knee}
		res, err := Sweep(context.Background(), g, SweepConfig{
			Rates: tt.rates, Step: time.Second, Criteria: DefaultCriteria,
			FindMax: true, BisectSteps: 10, Resolution: 0.01,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Bound != tt.wantBound {
			t.Errorf("knee %v: Bound = %v, want %v", tt.knee, res.Bound, tt.wantBound)
		}
		// The criteria accept up to 1 % loss, so the true maximum is
		// knee/0.99; bisection at 1 % resolution lands within 2 % of it.
		if hi := tt.wantMax / 0.99; res.MaxSustainableRPS > hi || res.MaxSustainableRPS < hi*0.98 {
			t.Errorf("knee %v: max %v, want within 2%% below %v (ran %v)", tt.knee, res.MaxSustainableRPS, hi, g.ran)
		}
		for _, st := range res.Steps {
			if s := st.Step; s.Sustainable == (s.NotSustainableReason != "") {
				t.Errorf("knee %v: step at %v/s sustainable=%v with reason %q: a reason is due exactly when it is not", tt.knee, s.OfferedRPS, s.Sustainable, s.NotSustainableReason)
			}
		}
		limit := firstAbove(tt.rates, tt.knee/0.99)
		for _, r := range g.ran {
			if r > limit {
				t.Errorf("knee %v: ran %v, beyond the first failing listed rate %v", tt.knee, r, limit)
			}
		}
	}
}

func firstAbove(rates []float64, knee float64) float64 {
	for _, r := range rates {
		if r > knee {
			return r
		}
	}
	return rates[len(rates)-1]
}

func TestSweepWithoutFindMaxRunsEveryRate(t *testing.T) {
	g := &kneeGenerator{knee: 1500}
	res, err := Sweep(context.Background(), g, SweepConfig{Rates: []float64{1000, 2000, 3000}, Step: time.Second, Criteria: DefaultCriteria})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 3 || res.MaxSustainableRPS != 1000 || !res.Bound {
		t.Errorf("got %d steps, max %v, bound %v; want 3 steps, max 1000, bound", len(res.Steps), res.MaxSustainableRPS, res.Bound)
	}
	if res.Steps[0].Step.Sustainable != true || res.Steps[1].Step.Sustainable != false {
		t.Errorf("sustainable flags: %v %v", res.Steps[0].Step.Sustainable, res.Steps[1].Step.Sustainable)
	}
}

func TestSweepKeepsFinishedStepsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := &kneeGenerator{knee: 1e9}
	res, err := Sweep(ctx, g, SweepConfig{
		Rates: []float64{1, 2, 3}, Step: time.Second, Criteria: DefaultCriteria,
		OnStep: func(o StepOutcome) {
			if o.Step.OfferedRPS == 2 {
				cancel()
			}
		},
	})
	if !IsInterrupted(err) {
		t.Fatalf("err = %v, want an interruption", err)
	}
	if len(res.Steps) != 2 {
		t.Errorf("kept %d steps, want the 2 finished", len(res.Steps))
	}
}

func TestCriteria(t *testing.T) {
	base := results.Step{OfferedRPS: 1000, Sent: 1000, Answered: 1000, AchievedRPS: 1000, Valid: true,
		LatencyUS: results.Latency{P99: 5000}}
	c := Criteria{MinAchieved: 0.99, MaxLoss: 0.01, SLOP99: 10 * time.Millisecond}
	tests := []struct {
		name   string
		mutate func(*results.Step)
		want   bool
	}{
		{"good", func(*results.Step) {}, true},
		{"invalid", func(s *results.Step) { s.Valid = false }, false},
		{"slow", func(s *results.Step) { s.LatencyUS.P99 = 10001 }, false},
		{"lossy", func(s *results.Step) { s.Answered = 985; s.AchievedRPS = 995 }, false},
		{"behind", func(s *results.Step) { s.AchievedRPS = 980 }, false},
		{"at the SLO", func(s *results.Step) { s.LatencyUS.P99 = 10000 }, true},
	}
	for _, tt := range tests {
		s := base
		tt.mutate(&s)
		if got, why := c.Sustainable(s); got != tt.want {
			t.Errorf("%s: Sustainable = %v (%s), want %v", tt.name, got, why, tt.want)
		}
	}
}

func TestLimitsJudgeStrictRule(t *testing.T) {
	l := Limits{LateAfter: time.Millisecond, MaxLateFraction: 0.01}.withDefaults()
	s := results.Step{Sent: 1000, Lag: results.Lag{LateSends: 10, SentInWindow: 1000}}
	l.judge(&s, NewRecorder())
	if !s.Valid {
		t.Errorf("1%% late sends at a 1%% limit: invalid (%s)", s.InvalidReason)
	}
	s.Lag.LateSends = 11
	l.judge(&s, NewRecorder())
	if s.Valid || s.InvalidReason == "" {
		t.Errorf("1.1%% late sends at a 1%% limit: valid")
	}
	// The reason tells the server's hold on every connection from the
	// generator's own delay.
	s.Lag.LateBlocked = 8
	l.judge(&s, NewRecorder())
	if want := "8 of them waited for a free connection or query ID (the server held them all), 3 were the generator's own delay"; !strings.Contains(s.InvalidReason, want) {
		t.Errorf("reason %q, want it to contain %q", s.InvalidReason, want)
	}
	// Off by default: the same late sends alone leave the step valid.
	DefaultLimits.judge(&s, NewRecorder())
	if !s.Valid {
		t.Errorf("default limits: 1.1%% late sends made the step invalid (%s); the strict rule should be off", s.InvalidReason)
	}
}

// flakyGenerator fails the first run of one rate, as a noisy machine might.
type flakyGenerator struct {
	kneeGenerator
	flaky  float64
	failed bool
}

func (g *flakyGenerator) RunStep(ctx context.Context, s StepSpec) (StepOutcome, error) {
	out, err := g.kneeGenerator.RunStep(ctx, s)
	if s.Rate == g.flaky && !g.failed {
		g.failed = true
		out.Step.Valid = false
	}
	return out, err
}

func TestSweepFindMaxRetriesANoisyStep(t *testing.T) {
	for _, retries := range []int{0, 1} {
		g := &flakyGenerator{kneeGenerator: kneeGenerator{knee: 5000}, flaky: 2000}
		res, err := Sweep(context.Background(), g, SweepConfig{
			Rates: []float64{1000, 2000, 4000, 8000}, Step: time.Second, Criteria: DefaultCriteria,
			FindMax: true, Retries: retries, BisectSteps: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		if retries == 0 && res.MaxSustainableRPS >= 2000 {
			t.Errorf("no retries: max %v, want the search stopped below the noisy 2000", res.MaxSustainableRPS)
		}
		if retries == 1 && res.MaxSustainableRPS < 4000 {
			t.Errorf("one retry: max %v (ran %v), want the search past the noisy 2000", res.MaxSustainableRPS, g.ran)
		}
	}
}
