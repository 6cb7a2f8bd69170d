package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ukbench/ukbench/results"
)

// A lane is one of a step's independent senders, each on its own
// goroutine: a DNS socket over UDP (dnsUDP) or TCP (dnsTCP), an HTTP event
// loop (httpLoop), or a fasthttp pacer with its workers (httpPool). A
// generator runs n lanes: DNS one per socket (DNSConfig.Sockets), HTTP one
// per thread (HTTPConfig.Threads), the connections divided among them
// (laneShare). Lane i of n follows NewPacer's schedule i of n: rate/n, and
// for constant arrivals a phase offset, so that the lanes together send
// the whole schedule evenly. A lane owns its share of the schedule and
// everything it counts, its Recorder included; lanes share nothing but
// their live counters, so a step takes no lock. Every generator runs its
// lanes through runStep, which merges their histograms after they end.
type lane interface {
	// run follows the lane's schedule on clk, then waits for the answers
	// in flight until they arrive or time out; it returns early once stop
	// is set. Sends intended before warmup are not measured.
	run(clk clock, warmup time.Duration, stop *atomic.Bool)
	// counters are what the progress line reads while the lane runs.
	counters() []*liveCounters
	// close releases what the lane holds; run has ended or never started.
	close()
}

// runStep is the RunStep of every generator. It checks spec, opens n
// lanes (open(i) opens lane i), runs them together on one step clock with
// the progress monitor (watchStep), and builds the step record from the
// finished lanes with collect. procs is the GOMAXPROCS the step needs
// (see raiseProcs). It returns an error when a lane cannot be opened or
// ctx ends the step.
func runStep[L lane](ctx context.Context, spec StepSpec, n, procs int, open func(i int) (L, error), collect func(StepSpec, []L) StepOutcome) (StepOutcome, error) {
	if err := checkStep(spec); err != nil {
		return StepOutcome{}, err
	}
	lanes := make([]L, 0, n)
	defer func() {
		for _, l := range lanes {
			l.close() // every lane has ended (wg.Wait below) or never started
		}
	}()
	var live []*liveCounters
	for i := 0; i < n; i++ {
		l, err := open(i)
		if err != nil {
			return StepOutcome{}, err
		}
		lanes = append(lanes, l)
		live = append(live, l.counters()...)
	}
	defer raiseProcs(procs)()
	var stop atomic.Bool
	clk := newClock()
	end := watchStep(ctx, spec, clk, &stop, live)
	var wg sync.WaitGroup
	for _, l := range lanes {
		wg.Add(1)
		go func() { defer wg.Done(); l.run(clk, spec.Warmup, &stop) }()
	}
	wg.Wait()
	end()
	if err := ctx.Err(); err != nil {
		return StepOutcome{}, fmt.Errorf("step at %.0f/s interrupted: %w", spec.Rate, err)
	}
	return collect(spec, lanes).startedAt(clk), nil
}

// laneShare is lane i's share of total items (connections) divided among
// n lanes: total/n, the first total%n lanes one more. Every lane has one
// at least when total ≥ n.
func laneShare(total, i, n int) int {
	share := total / n
	if i < total%n {
		share++
	}
	return share
}

// stepTotal is the collection tail every generator shares: it merges what
// each lane (or worker) counted the same way into one step record, to
// which the generator adds its own errors and codes.
type stepTotal struct {
	step  results.Step
	rec   *Recorder
	stats sendStats
}

func newStepTotal(spec StepSpec) *stepTotal {
	return &stepTotal{
		step: results.Step{
			OfferedRPS: spec.Rate, DurationS: spec.Duration.Seconds(),
			Errors: map[string]uint64{}, Codes: map[string]uint64{},
		},
		rec: NewRecorder(),
	}
}

// add merges one sender's histograms, send counts and good answers.
func (t *stepTotal) add(rec *Recorder, stats sendStats, answered uint64) {
	t.rec.Merge(rec)
	t.stats.add(stats)
	t.step.Answered += answered
}

// outcome completes the record from the merged counts and judges it.
func (t *stepTotal) outcome(spec StepSpec, lim Limits) StepOutcome {
	step := t.step
	step.Sent = t.stats.sent
	step.NeverSent = t.stats.neverSent
	step.Lag = t.stats.lag()
	step.AchievedRPS = float64(step.Answered) / spec.Duration.Seconds()
	step.LatencyUS = Summarize(t.rec.Latency)
	step.ServiceUS = Summarize(t.rec.Service)
	lim.judge(&step, t.rec)
	return StepOutcome{Step: step, Hist: t.rec}
}

func addNonZero(m map[string]uint64, k string, v uint64) {
	if v != 0 {
		m[k] += v
	}
}
