package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"github.com/ukbench/ukbench/internal/cpuset"
	"github.com/ukbench/ukbench/results"
)

// TimerProbe is a short probe of the host's timer wake-up delay, made
// before the load so that a report can say which latencies the host can
// resolve (DESIGN.md rule 2). Its method is cyclictest's: one thread
// pinned to each CPU asks to wake at fixed intervals and measures how late
// it woke. The threads sleep as the generator's pacing threads do (locked
// OS thread, the same timer slack, nanosleep keeping the P), so their
// delay is what the generator's sends get on a quiet generator. The zero
// value probes every CPU this process may run on for DefaultTimerProbe.
type TimerProbe struct {
	// CPUs to probe; default the calling thread's CPU affinity (the
	// generator's CPUs once a campaign has pinned itself).
	CPUs []int
	// Interval between wake-ups; default DefaultTimerProbeInterval.
	Interval time.Duration
	// Duration of the probe; default DefaultTimerProbe.
	Duration time.Duration
	// TimerSlack of the probing threads; default DefaultTimerSlack.
	TimerSlack time.Duration
}

// Run probes the CPUs at once, one thread each, and returns what it found.
// It ends early, with ctx's error, when ctx ends.
func (p TimerProbe) Run(ctx context.Context) (results.TimerNoise, error) {
	if p.Interval == 0 {
		p.Interval = DefaultTimerProbeInterval
	}
	if p.Duration == 0 {
		p.Duration = DefaultTimerProbe
	}
	if p.TimerSlack == 0 {
		p.TimerSlack = DefaultTimerSlack
	}
	switch {
	case p.Interval < 0 || p.Duration < p.Interval:
		return results.TimerNoise{}, fmt.Errorf("%w: timer probe of %v at intervals of %v: want an interval above 0 and a duration of at least one", ErrConfig, p.Duration, p.Interval)
	case p.TimerSlack < 0:
		return results.TimerNoise{}, fmt.Errorf("%w: timer probe slack %v must not be negative", ErrConfig, p.TimerSlack)
	}
	if len(p.CPUs) == 0 {
		cpus, err := cpuset.Current()
		if err != nil {
			return results.TimerNoise{}, fmt.Errorf("timer probe: %w", err)
		}
		p.CPUs = cpus
	}
	hists := make([]*hdrhistogram.Histogram, len(p.CPUs))
	errs := make([]error, len(p.CPUs))
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	defer raiseProcs(len(p.CPUs) + 1)()
	var wg sync.WaitGroup
	for i, cpu := range p.CPUs {
		hists[i] = hdrhistogram.New(histLowestUS, histHighestUS, histSigFigs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.probeCPU(cpu, hists[i], &stop)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return results.TimerNoise{}, fmt.Errorf("timer probe interrupted: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return results.TimerNoise{}, err
	}
	all := hdrhistogram.New(histLowestUS, histHighestUS, histSigFigs)
	noise := results.TimerNoise{CPUs: p.CPUs, IntervalUS: float64(p.Interval) / 1e3, DurationS: p.Duration.Seconds(),
		TimerSlackUS: float64(p.TimerSlack) / 1e3}
	for i, h := range hists {
		all.Merge(h)
		noise.PerCPU = append(noise.PerCPU, results.CPUTimerNoise{CPU: p.CPUs[i], P99US: float64(h.ValueAtQuantile(99)), MaxUS: float64(h.Max())})
	}
	noise.Wakeups = uint64(all.TotalCount())
	noise.LateUS = Summarize(all)
	return noise, nil
}

// probeCPU runs one CPU's share of the probe on a thread pinned to cpu,
// recording each wake-up's delay into h, in microseconds. The thread is
// never unlocked: it exits with the goroutine, and its affinity and slack
// with it.
func (p TimerProbe) probeCPU(cpu int, h *hdrhistogram.Histogram, stop *atomic.Bool) error {
	lockPacingThread(p.TimerSlack)
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("timer probe: pin to CPU %d: %w", cpu, err)
	}
	clk := newClock()
	for next := p.Interval; next <= p.Duration; next += p.Interval {
		if !clk.sleepUntil(next, stop) {
			return nil
		}
		late := clk.now() - next
		h.RecordValue(clampUS(late))
		if late > p.Interval {
			// Woken past the next wake-up too: start again from now, as
			// cyclictest does, rather than count one stall many times.
			next += (late / p.Interval) * p.Interval
		}
	}
	return nil
}
