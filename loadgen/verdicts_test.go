package loadgen

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ukbench/ukbench/results"
)

func gaps(ns ...int64) *hdrhistogram.Histogram {
	h := hdrhistogram.New(gapLowestNS, gapHighestNS, gapSigFigs)
	for _, v := range ns {
		h.RecordValue(v)
	}
	return h
}

// repeat returns n copies of v.
func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestInterArrivalDistance(t *testing.T) {
	const us = int64(time.Microsecond)
	tol := time.Millisecond
	tests := []struct {
		name             string
		intended, actual []int64
		lo, hi           float64
	}{
		{"identical", repeat(250*us, 1000), repeat(250*us, 1000), 0, 0},
		{"empty", nil, nil, 0, 0},
		// Pairs sent together in one batch: gaps 0 and 500 µs instead of
		// 250 µs, all within the 1 ms tolerance.
		{"batched pairs", repeat(250*us, 1000), append(repeat(0, 500), repeat(500*us, 500)...), 0, 0},
		// One 20 ms stall in 1,000 sends: one long gap and a burst of
		// 80 sends 0 apart after it; only the long gap is off by more
		// than 1 ms.
		{"one stall", repeat(250*us, 1000), append(append(repeat(20_000*us, 1), repeat(0, 80)...), repeat(250*us, 919)...), 0.0005, 0.002},
		// Bursts: 10 sends together every 20 ms instead of one each 2 ms;
		// 90 % of gaps are 2 ms short, 10 % 18 ms long.
		{"bursts", repeat(2000*us, 1000), append(repeat(0, 900), repeat(20_000*us, 100)...), 0.85, 0.95},
		// Gaps squeezed by exactly the tolerance are within it.
		{"squeezed by the tolerance", repeat(1000*us, 1000), append(repeat(0, 900), repeat(10_000*us, 100)...), 0.09, 0.11},
		// Every gap doubled: a generator that sends at half the rate.
		{"half rate", repeat(2000*us, 1000), repeat(4000*us, 1000), 0.99, 1},
	}
	for _, tt := range tests {
		d := interArrivalDistance(gaps(tt.intended...), gaps(tt.actual...), tol)
		if d < tt.lo || d > tt.hi || math.IsNaN(d) {
			t.Errorf("%s: distance %.4f, want %.4f to %.4f", tt.name, d, tt.lo, tt.hi)
		}
	}
	// Symmetric in its arguments.
	a, b := gaps(repeat(1000*us, 100)...), gaps(append(repeat(0, 90), repeat(10_000*us, 10)...)...)
	if x, y := interArrivalDistance(a, b, tol), interArrivalDistance(b, a, tol); math.Abs(x-y) > 1e-9 {
		t.Errorf("distance not symmetric: %.4f and %.4f", x, y)
	}
}

func TestGeneratorLimited(t *testing.T) {
	lat := results.Latency{P50: 2000, P90: 2100, P99: 20000, P999: 22000, Max: 25000}
	tests := []struct {
		name  string
		delay results.Latency
		want  []string
	}{
		{"quiet generator", results.Latency{P50: 20, P90: 30, P99: 60, P999: 100, Max: 300}, nil},
		{"stalled generator", results.Latency{P50: 20, P90: 40, P99: 18000, P999: 20000, Max: 21000}, []string{"p99", "p999", "max"}},
		{"at the fraction is not flagged", results.Latency{P50: 200}, nil},
		{"just above it is", results.Latency{P50: 201}, []string{"p50"}},
	}
	for _, tt := range tests {
		if got := generatorLimited(lat, tt.delay, 0.10); !slices.Equal(got, tt.want) {
			t.Errorf("%s: flagged %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestJudgeLoadDelivered: each way a schedule fails to reach the server
// makes the step invalid with its reason; late sends alone do not.
func TestJudgeLoadDelivered(t *testing.T) {
	const us = int64(time.Microsecond)
	onTime := func() *Recorder {
		r := NewRecorder()
		r.GapIntended, r.GapActual = gaps(repeat(1000*us, 1000)...), gaps(repeat(1000*us, 1000)...)
		return r
	}
	bursty := func() *Recorder {
		r := onTime()
		r.GapIntended = gaps(repeat(2000*us, 1000)...)
		r.GapActual = gaps(append(repeat(0, 900), repeat(20_000*us, 100)...)...)
		return r
	}
	ok := results.Step{OfferedRPS: 1000, Sent: 1000, Lag: results.Lag{SentInWindow: 1000, LateSends: 300}}
	tests := []struct {
		name   string
		mutate func(*results.Step)
		rec    func() *Recorder
		reason string // "" for valid
	}{
		{"on time, many late sends", func(*results.Step) {}, onTime, ""},
		{"never sent", func(s *results.Step) { s.NeverSent = 5 }, onTime, "never left"},
		{"nothing sent", func(s *results.Step) { s.Sent, s.Lag.SentInWindow = 0, 0 }, onTime, "no request was sent"},
		{"behind at the window's end", func(s *results.Step) { s.Lag.SentInWindow = 980 }, onTime, "98.00% of sends left within the measured window"},
		{"99 % in the window", func(s *results.Step) { s.Lag.SentInWindow = 990 }, onTime, ""},
		{"bursts", func(*results.Step) {}, bursty, "inter-arrival times"},
		{"2 % waited for connections", func(s *results.Step) { s.Lag.Blocked, s.Lag.LateBlocked = 30, 20 }, onTime, "2.00% of sends (20) waited more than 1ms for a free connection or query ID"},
		{"1 % waited for connections", func(s *results.Step) { s.Lag.Blocked, s.Lag.LateBlocked = 30, 10 }, onTime, ""},
	}
	for _, tt := range tests {
		s := ok
		tt.mutate(&s)
		DefaultLimits.judge(&s, tt.rec())
		switch {
		case tt.reason == "" && !s.Valid:
			t.Errorf("%s: invalid (%s), want valid", tt.name, s.InvalidReason)
		case tt.reason != "" && (s.Valid || !strings.Contains(s.InvalidReason, tt.reason)):
			t.Errorf("%s: valid %v, reason %q; want invalid with %q", tt.name, s.Valid, s.InvalidReason, tt.reason)
		}
	}
}

// TestSustainableSaysGeneratorLimited: a step that misses the SLO at a
// generator-limited p99 says so.
func TestSustainableSaysGeneratorLimited(t *testing.T) {
	s := results.Step{OfferedRPS: 1000, Sent: 1000, Answered: 1000, AchievedRPS: 1000, Valid: true,
		LatencyUS: results.Latency{P99: 1600}, SendDelayUS: results.Latency{P99: 900}, GeneratorLimited: []string{"p99"}}
	c := Criteria{MinAchieved: 0.99, MaxLoss: 0.01, SLOP99: time.Millisecond}
	ok, why := c.Sustainable(s)
	if ok || !strings.Contains(why, "generator-limited") || !strings.Contains(why, "900µs") {
		t.Errorf("Sustainable = %v, %q; want not, naming the generator's 900µs delay", ok, why)
	}
	s.GeneratorLimited = nil
	if _, why := c.Sustainable(s); strings.Contains(why, "generator") {
		t.Errorf("reason %q names the generator for a percentile that is not generator-limited", why)
	}
}
