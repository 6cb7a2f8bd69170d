package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/ukbench/ukbench/results"
)

// ErrConfig is wrapped by every configuration error of a generator.
var ErrConfig = errors.New("bad load configuration")

// StepSpec is one offered rate to run.
type StepSpec struct {
	Rate     float64       // offered requests per second
	Warmup   time.Duration // sent but discarded
	Duration time.Duration // the measured window, after the warm-up
	// Progress, if set, is called about once a second from another
	// goroutine while the step runs.
	Progress func(Live)
}

// Live is a snapshot of a running step for a progress line.
type Live struct {
	Offered  float64
	Elapsed  time.Duration
	Length   time.Duration // warm-up plus measured window
	Sent     uint64        // all sends so far, warm-up included
	Answered uint64        // all good answers so far, warm-up included
}

// StepOutcome is a finished step: its record and its merged histograms.
type StepOutcome struct {
	Step results.Step
	Hist *Recorder
	// Started is when the step's schedule began (warm-up included, after
	// its sockets or connections were set up): the start of its
	// histogram log's interval.
	Started time.Time
}

// startedAt stamps the outcome with the start of the step's clock.
func (o StepOutcome) startedAt(c clock) StepOutcome {
	o.Started = c.start
	return o
}

// A Generator runs steps against one server. RunStep returns an error only
// when the step could not be run or was interrupted (ctx done); a server
// that does not answer is loss, not an error.
type Generator interface {
	RunStep(ctx context.Context, s StepSpec) (StepOutcome, error)
	// Describe says how the load is made, for the run record.
	Describe() results.LoadInfo
}

// liveCounters are one worker's counters for the progress line: a single
// writer adds, the monitor reads.
type liveCounters struct {
	sent, answered atomic.Uint64
}

// watchStep starts the progress monitor and a goroutine that sets stop when
// ctx is done. The returned function ends both.
func watchStep(ctx context.Context, s StepSpec, clk clock, stop *atomic.Bool, counters []*liveCounters) (end func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var tick <-chan time.Time
		if s.Progress != nil {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-ctx.Done():
				stop.Store(true)
				return
			case <-done:
				return
			case <-tick:
				l := Live{Offered: s.Rate, Elapsed: clk.now(), Length: s.Warmup + s.Duration}
				for _, c := range counters {
					l.Sent += c.sent.Load()
					l.Answered += c.answered.Load()
				}
				s.Progress(l)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func checkStep(s StepSpec) error {
	return checkStepParts(s.Rate, s.Duration, s.Warmup)
}

// checkStepParts is the one check of a step's rate (finite, above 0),
// measured window (at least MinStep) and warm-up (not negative), for a
// step (checkStep) and each rate of a sweep (SweepConfig.Validate). Errors
// wrap ErrConfig.
func checkStepParts(rate float64, step, warmup time.Duration) error {
	switch {
	case !(rate > 0) || math.IsInf(rate, 0):
		return fmt.Errorf("%w: rate %v: want a finite rate above 0", ErrConfig, rate)
	case step < MinStep:
		return CheckStepLength(step)
	case warmup < 0:
		return fmt.Errorf("%w: warm-up %v must not be negative", ErrConfig, warmup)
	}
	return nil
}

// sendStats are a sender's schedule-keeping counts for the measured window.
// begin sets what they are judged by; account counts each send.
type sendStats struct {
	sent     uint64
	late     uint64
	blocked  uint64
	lateBlk  uint64 // late and blocked
	maxLate  time.Duration
	warmSent uint64
	// inWindow: measured sends that left by the window's end.
	inWindow uint64
	// neverSent: measured requests still due when the lane's schedule
	// was cut at its deadline (SendGrace).
	neverSent uint64

	// Set by begin: the sender's recorder (its send histograms), the
	// measured window [warmup, end) on the step clock, the late limit, and
	// the previous send.
	rec         *Recorder
	warmup, end time.Duration
	lateAfter   time.Duration
	prev        prevSend
}

// begin readies st for a step whose measured window runs from warmup to
// end on the step clock, recording send delays and gaps into rec.
func (st *sendStats) begin(rec *Recorder, warmup, end, lateAfter time.Duration) {
	st.rec, st.warmup, st.end, st.lateAfter = rec, warmup, end, lateAfter
}

// account counts one send that left at sentAt and was due at intended;
// blocked: it waited for a free connection or ID, or queued behind one
// that did. It does not allocate.
func (st *sendStats) account(intended, sentAt time.Duration, blocked bool) {
	if intended < st.warmup {
		st.warmSent++
		return
	}
	st.sent++
	if sentAt <= st.end {
		st.inWindow++
	}
	st.rec.recordSend(intended, sentAt, blocked, &st.prev)
	late := sentAt - intended
	if late > st.lateAfter {
		st.late++
		if blocked {
			st.lateBlk++
		}
	}
	if late > st.maxLate {
		st.maxLate = late
	}
	if blocked {
		st.blocked++
	}
}

// add merges o's counts into st (the recorders are merged apart).
func (st *sendStats) add(o sendStats) {
	st.sent += o.sent
	st.late += o.late
	st.blocked += o.blocked
	st.lateBlk += o.lateBlk
	st.warmSent += o.warmSent
	st.inWindow += o.inWindow
	st.neverSent += o.neverSent
	if o.maxLate > st.maxLate {
		st.maxLate = o.maxLate
	}
}

func (st sendStats) lag() results.Lag {
	return results.Lag{LateSends: st.late, MaxLateUS: float64(st.maxLate.Microseconds()), Blocked: st.blocked, LateBlocked: st.lateBlk,
		SentInWindow: st.inWindow}
}
