package results

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/fielderr"
)

// goodStep is a step as a generator records it: 500/s over 5 s, every
// send answered, the schedule kept.
func goodStep() Step {
	return Step{OfferedRPS: 500, DurationS: 5, Sent: 2500, Answered: 2490, AchievedRPS: 498,
		Errors: map[string]uint64{"timeout": 10, "late_answer": 9000}, Codes: map[string]uint64{"NOERROR": 2490},
		Valid: true, Sustainable: true, Phase: "sweep",
		Lag:         Lag{LateSends: 3, MaxLateUS: 1500, Blocked: 2, LateBlocked: 1, SentInWindow: 2500, InterArrivalDistance: 0.01},
		LatencyUS:   Latency{P50: 300, P90: 450, P99: 900, P999: 2000, Max: 5000, Mean: 350},
		ServiceUS:   Latency{P50: 280, P90: 420, P99: 850, P999: 1900, Max: 4900, Mean: 330},
		SendDelayUS: Latency{P50: 3, P90: 5, P99: 20, P999: 60, Max: 1500, Mean: 4}, GeneratorLimited: []string{"p50"}}
}

func TestCheckStepAcceptsWhatARunRecords(t *testing.T) {
	for name, s := range map[string]Step{
		"a kept schedule": goodStep(),
		"a step that sent nothing": {OfferedRPS: 100, DurationS: 1, NeverSent: 100,
			InvalidReason: "schedule not delivered", NotSustainableReason: "invalid: schedule not delivered"},
		"no answers at all":                     {OfferedRPS: 100, DurationS: 1, Sent: 100, Errors: map[string]uint64{"timeout": 100}, Valid: true, Lag: Lag{SentInWindow: 100}},
		"a generator that lagged":               {OfferedRPS: 1e6, DurationS: 1, Sent: 20_000, NeverSent: 980_000},
		"a rate beyond any schedule, saturated": {OfferedRPS: 1e300, DurationS: 3, NeverSent: 1 << 62},
		"a Poisson count above the mean":        {OfferedRPS: 1000, DurationS: 1, Sent: 1090, Answered: 1090, AchievedRPS: 1090, Valid: true},
	} {
		if err := CheckStep(s); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Each case breaks one thing that must hold; the error names that field.
func TestCheckStepRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(*Step)
		field  string
	}{
		{"offered −500/s", func(s *Step) { s.OfferedRPS = -500 }, "offered_rps"},
		{"steps: [{}]", func(s *Step) { *s = Step{} }, "offered_rps"},
		{"a window of 0 s", func(s *Step) { s.DurationS = 0 }, "duration_s"},
		{"achieved −5,000/s", func(s *Step) { s.AchievedRPS = -5000 }, "achieved_rps"},
		{"achieved 1e308/s", func(s *Step) { s.AchievedRPS = 1e308 }, "achieved_rps"},
		{"achieved above its answers", func(s *Step) { s.AchievedRPS = 499 }, "achieved_rps"},
		{"achieved +Inf", func(s *Step) { s.AchievedRPS = math.Inf(1) }, "achieved_rps"},
		{"latency NaN", func(s *Step) { s.LatencyUS.Mean = math.NaN() }, "latency_us.mean"},
		{"latency 1e308 µs", func(s *Step) { s.LatencyUS.P99, s.LatencyUS.P999, s.LatencyUS.Max = 1e308, 1e308, 1e308 }, "latency_us.p99"},
		{"answered > sent", func(s *Step) { s.Answered = 2501 }, "answered"},
		{"sent = answered = 10^15 at 500/s", func(s *Step) { s.Sent, s.Answered, s.Lag.SentInWindow = 1e15, 1e15, 1e15 }, "sent"},
		{"never sent beyond the schedule", func(s *Step) { s.Valid, s.Sustainable, s.NeverSent = false, false, 5000 }, "sent"},
		{"valid with a third of its schedule", func(s *Step) { s.Sent, s.Answered, s.AchievedRPS, s.Lag.SentInWindow = 800, 800, 160, 800 }, "sent"},
		{"valid with sends never made", func(s *Step) { s.Sent, s.Answered, s.NeverSent = 2400, 2390, 100 }, "valid"},
		{"valid with nothing sent", func(s *Step) { *s = Step{OfferedRPS: 0.5, DurationS: 1, Valid: true} }, "valid"},
		{"sustainable but invalid", func(s *Step) { s.Valid = false }, "sustainable"},
		{"more timeouts than sends", func(s *Step) { s.Errors["timeout"] = 2501 }, "errors.timeout"},
		{"more answers of a code than sends", func(s *Step) { s.Codes["NOERROR"] = 2501 }, "codes.NOERROR"},
		{"more in the window than sent", func(s *Step) { s.Lag.SentInWindow = 2501 }, "lag.sent_in_window"},
		{"late and blocked beyond late", func(s *Step) { s.Lag.LateBlocked = 4 }, "lag.late_blocked"},
		{"inter-arrival distance 1.5", func(s *Step) { s.Lag.InterArrivalDistance = 1.5 }, "lag.interarrival_distance"},
		{"negative lateness", func(s *Step) { s.Lag.MaxLateUS = -1 }, "lag.max_late_us"},
		{"p90 below p50", func(s *Step) { s.LatencyUS.P90 = 299 }, "latency_us.p90"},
		{"max below p99.9", func(s *Step) { s.ServiceUS.Max = 1000 }, "service_us.max"},
		{"mean above max", func(s *Step) { s.SendDelayUS.Mean = 1501 }, "send_delay_us.mean"},
		{"an unknown percentile limited", func(s *Step) { s.GeneratorLimited = []string{"p42"} }, "generator_limited"},
		{"an agent's record not finite", func(s *Step) { s.Agents = []AgentStep{{Agent: "a", StartSkewUS: math.Inf(-1)}} }, "agents[0].start_skew_us"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := goodStep()
			tc.break_(&s)
			err := CheckStep(s)
			fe, ok := fielderr.As(err)
			if !errors.Is(err, ErrImplausible) || !ok || fe.Field() != tc.field {
				t.Errorf("CheckStep: %v; want ErrImplausible naming %s", err, tc.field)
			}
		})
	}
}

// A share of a schedule may stray by one send per lane beyond a whole
// schedule's margin.
func TestCheckShareAllowsItsLanes(t *testing.T) {
	s := Step{OfferedRPS: 1, DurationS: 1, Sent: 60, Answered: 60, AchievedRPS: 60, Valid: true}
	if err := CheckStep(s); err == nil {
		t.Error("60 sends of a schedule of 1: accepted as a whole schedule")
	}
	if err := CheckShare(s, 64); err != nil {
		t.Errorf("60 sends of a share of 1 on 64 lanes: %v", err)
	}
}

func goodRun() Run {
	bound := true
	return Run{Target: "osv", Workload: "dns", Repeat: 1, Accel: "kvm",
		Boot:   &Boot{QEMUStartMS: 12, ConsoleReadyMS: 300, FirstAnswerMS: 400, LaunchMS: 5},
		Memory: &Memory{QEMURSSKiB: 81000},
		Load: &LoadInfo{Server: "10.0.0.2:53", Arrivals: "constant", Workers: 2, Threads: 2, TimeoutMS: 2000, WarmupS: 1, MaxLoss: 0.01,
			LateAfterUS: 1000, Agents: []AgentInfo{{Agent: "a1", Lanes: 2}}},
		TimerNoise:          &TimerNoise{CPUs: []int{0, 1}, IntervalUS: 200, DurationS: 1, Wakeups: 10000, LateUS: Latency{P50: 3, P90: 5, P99: 9, P999: 20, Max: 50, Mean: 4}},
		Steps:               []Step{goodStep()},
		MaxSustainableRPS:   500,
		MaxSustainableBound: &bound}
}

func TestCheckRun(t *testing.T) {
	if err := CheckRun(goodRun()); err != nil {
		t.Fatalf("a plausible run: %v", err)
	}
	failed := Run{Target: "osv", Workload: "dns", Repeat: 2, Error: "boot timeout", Steps: []Step{}}
	if err := CheckRun(failed); err != nil {
		t.Errorf("a run that failed before its load: %v", err)
	}
	for _, tc := range []struct {
		name   string
		break_ func(*Run)
		field  string
	}{
		{"a step of offered −500/s", func(r *Run) { r.Steps[0].OfferedRPS = -500 }, "steps[0].offered_rps"},
		{"steps: [{}]", func(r *Run) { r.Steps = append(r.Steps, Step{}) }, "steps[1].offered_rps"},
		{"max sustainable 1e400 (+Inf)", func(r *Run) { r.MaxSustainableRPS = math.Inf(1) }, "max_sustainable_rps"},
		{"max sustainable −1", func(r *Run) { r.MaxSustainableRPS = -1 }, "max_sustainable_rps"},
		{"a boot of −3 ms", func(r *Run) { r.Boot.FirstAnswerMS = -3 }, "boot.first_answer_ms"},
		{"negative memory", func(r *Run) { r.Memory.QEMURSSKiB = -1 }, "memory.qemu_rss_kib"},
		{"a negative timeout", func(r *Run) { r.Load.TimeoutMS = -1 }, "load.timeout_ms"},
		{"negative workers", func(r *Run) { r.Load.Workers = -1 }, "load.workers"},
		{"timer noise out of order", func(r *Run) { r.TimerNoise.LateUS.P99 = 1 }, "timer_noise.late_us.p99"},
		{"an agent's timer noise negative", func(r *Run) {
			r.Load.Agents[0].TimerNoise = &TimerNoise{DurationS: -1}
		}, "load.agents[0].timer_noise.duration_s"},
		{"an agent's share beyond its lanes", func(r *Run) {
			a := AgentStep{Agent: "a1", Step: goodStep()}
			a.Sent = 5000
			r.Steps[0].Agents = []AgentStep{a}
		}, "steps[0].agents[0].sent"},
		{"an agent's clock bound negative", func(r *Run) {
			r.Steps[0].Agents = []AgentStep{{Agent: "a1", Error: "lost", Clock: &ClockOffset{BoundUS: -1}}}
		}, "steps[0].agents[0].clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goodRun()
			tc.break_(&r)
			err := CheckRun(r)
			fe, ok := fielderr.As(err)
			if !errors.Is(err, ErrImplausible) || !ok || fe.Field() != tc.field {
				t.Errorf("CheckRun: %v; want ErrImplausible naming %s", err, tc.field)
			}
		})
	}
	// An agent that gave no result has no step to check; a clock offset
	// may be negative (the agent's clock behind).
	r := goodRun()
	r.Steps[0].Agents = []AgentStep{{Agent: "a1", Error: "connection lost", Clock: &ClockOffset{OffsetUS: -300, BoundUS: 20, RTTUS: 40, Samples: 8}}}
	if err := CheckRun(r); err != nil {
		t.Errorf("an agent that gave no result: %v", err)
	}
}

// A record with a value JSON cannot hold (+Inf, NaN) is written all the
// same: the value becomes 0, its step invalid and not sustainable, the
// run's error says which; the other steps are untouched and the record
// reads back. A record with a finite implausible value is written too:
// that step keeps only its rate and window, invalid, the reasons naming
// the field, and the record reads back with its other steps; the run's
// maximum is taken again from the steps left sustainable.
func TestWritable(t *testing.T) {
	r := goodRun()
	second := goodStep()
	second.OfferedRPS = 1000
	second.AchievedRPS = math.Inf(1)
	second.LatencyUS.Mean = math.NaN()
	r.Steps = append(r.Steps, second, goodStep())
	if _, err := json.Marshal(r); err == nil {
		t.Fatal("json encodes +Inf: the test proves nothing")
	}
	err := Writable(&r)
	if !errors.Is(err, ErrImplausible) || !strings.Contains(err.Error(), "steps[1].achieved_rps: not finite") || !strings.Contains(err.Error(), "steps[1].latency_us.mean") {
		t.Errorf("Writable: %v, want the non-finite fields named", err)
	}
	b, jerr := json.Marshal(r)
	if jerr != nil {
		t.Fatalf("still not writable: %v", jerr)
	}
	s := r.Steps[1]
	if s.Valid || s.Sustainable || !strings.Contains(s.InvalidReason, "implausible record") || s.AchievedRPS != 0 {
		t.Errorf("step with +Inf: %+v, want it invalid, not sustainable, its value 0", s)
	}
	if !r.Steps[0].Valid || !r.Steps[2].Sustainable || !strings.Contains(r.Error, "record checked before writing") {
		t.Errorf("other steps or the run's error changed: %+v, %+v, %q", r.Steps[0], r.Steps[2], r.Error)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, RunsFile)
	os.WriteFile(path, append(b, '\n'), 0o644)
	if runs, err := ReadRuns(path); err != nil || len(runs[0].Steps) != 3 {
		t.Errorf("reading it back: %v", err)
	}
	// Finite but implausible: answered > sent, in the step that was the
	// run's maximum, beside a sustainable one at a lower rate.
	r = goodRun()
	lower := goodStep() // 400/s over 5 s, kept
	lower.OfferedRPS, lower.Sent, lower.Answered, lower.AchievedRPS = 400, 2000, 1990, 398
	lower.Codes, lower.Lag.SentInWindow = map[string]uint64{"NOERROR": 1990}, 2000
	r.Steps = append(r.Steps, lower)
	r.MaxSustainableRPS = r.Steps[0].OfferedRPS
	r.Steps[0].Answered = 3000
	if err := Writable(&r); !errors.Is(err, ErrImplausible) || !strings.Contains(err.Error(), "steps[0].answered") {
		t.Errorf("Writable: %v, want steps[0].answered named", err)
	}
	if s := r.Steps[0]; s.Valid || s.Sustainable || s.Sent != 0 || s.Answered != 0 || s.OfferedRPS == 0 || !strings.Contains(s.InvalidReason, "answered") {
		t.Errorf("implausible step %+v: want its rate kept, nothing else, invalid, the reason naming answered", s)
	}
	if r.MaxSustainableRPS != 400 {
		t.Errorf("max sustainable %v, want 400 (the implausible step at 500/s is no longer sustainable)", r.MaxSustainableRPS)
	}
	b, _ = json.Marshal(r)
	os.WriteFile(path, append(b, '\n'), 0o644)
	if runs, warns, err := ReadRunsWarn(path); err != nil || len(warns) != 0 || len(runs) != 1 || len(runs[0].Steps) != 2 || !runs[0].Steps[1].Sustainable {
		t.Errorf("reading it back: %d runs, warnings %v, %v; want the run with both steps", len(runs), warns, err)
	}
	// A section that fails its check is left out; a record from elsewhere
	// with an implausible step is still refused on reading.
	r = goodRun()
	r.Boot = &Boot{QEMUStartMS: -5}
	if err := Writable(&r); err == nil || r.Boot != nil || CheckRun(r) != nil {
		t.Errorf("negative boot figure: %v, boot %+v: want it left out and the run believable", err, r.Boot)
	}
	r = goodRun()
	r.Steps[0].Answered = 3000
	b, _ = json.Marshal(r)
	os.WriteFile(path, append(b, '\n'), 0o644)
	if _, warns, _ := ReadRunsWarn(path); len(warns) != 1 || !strings.Contains(warns[0].String(), ":1: run osv dns #1 refused") || !strings.Contains(warns[0].Msg, "steps[0].answered") {
		t.Errorf("reading an unchecked record: warnings %v, want it refused naming line 1 and steps[0].answered", warns)
	}
	if r := goodRun(); Writable(&r) != nil || r.Error != "" {
		t.Errorf("a plausible run changed: %q", r.Error)
	}
}
