package loadgen_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/ukbench/ukbench/loadgen"
)

func TestTimerProbeMeasuresEachCPU(t *testing.T) {
	p := loadgen.TimerProbe{CPUs: []int{0}, Interval: time.Millisecond, Duration: 200 * time.Millisecond}
	if runtime.NumCPU() > 1 {
		p.CPUs = []int{0, 1}
	}
	start := time.Now()
	n, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("%+v in %v", n, took)
	// 200 wake-ups a CPU, fewer only when a wake-up came more than an
	// interval late (counted once, not once per interval it missed): how
	// many fewer is the host's business (a busy one woke the probe 297 ms
	// late), but every CPU's thread wakes at least once.
	if want := uint64(200 * len(p.CPUs)); n.Wakeups > want || n.Wakeups < uint64(len(p.CPUs)) {
		t.Errorf("%d wake-ups on %d CPUs over 200 ms at 1 ms, want at most %d and one a CPU at least", n.Wakeups, len(p.CPUs), want)
	}
	if len(n.PerCPU) != len(p.CPUs) || n.PerCPU[0].CPU != p.CPUs[0] {
		t.Errorf("per-CPU figures %+v, want one for each of %v", n.PerCPU, p.CPUs)
	}
	if n.LateUS.Max < n.LateUS.P99 || n.LateUS.P99 < n.LateUS.P50 {
		t.Errorf("percentiles out of order: %+v", n.LateUS)
	}
	if took < 200*time.Millisecond {
		t.Errorf("probe of 200 ms took %v", took)
	}
	if n.TimerSlackUS != float64(loadgen.DefaultTimerSlack)/1e3 || n.IntervalUS != 1000 || n.DurationS != 0.2 {
		t.Errorf("settings recorded as %+v", n)
	}
}

func TestTimerProbeDefaultsToTheAffinity(t *testing.T) {
	n, err := loadgen.TimerProbe{Duration: 20 * time.Millisecond}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(n.CPUs) == 0 || len(n.CPUs) > runtime.NumCPU() {
		t.Errorf("probed CPUs %v, want this process's (%d CPUs)", n.CPUs, runtime.NumCPU())
	}
}

func TestTimerProbeRefusesBadInput(t *testing.T) {
	for _, p := range []loadgen.TimerProbe{
		{Interval: -time.Millisecond},
		{Interval: time.Second, Duration: time.Millisecond},
		{TimerSlack: -1},
		{CPUs: []int{100000}, Duration: 10 * time.Millisecond},
	} {
		if _, err := p.Run(context.Background()); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}

func TestTimerProbeStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := loadgen.TimerProbe{Duration: time.Minute}.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a probe of a minute stopped %v after its context, want well under a second", took)
	}
}
