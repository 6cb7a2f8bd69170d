package results_test

import (
	"testing"
	"time"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
)

// sendsIn counts the sends lanes first…first+n−1 of an of-lane schedule
// of a at rate hold in the measured window [warmup, warmup+d).
func sendsIn(a loadgen.Arrivals, rate float64, warmup, d time.Duration, first, n, of int, seed uint64) int {
	count := 0
	for i := first; i < first+n; i++ {
		p := loadgen.NewPacer(a, rate, warmup+d, i, of, seed)
		for k := uint64(0); ; k++ {
			at, ok := p.Due(k)
			if !ok {
				break
			}
			if at >= warmup {
				count++
			}
		}
	}
	return count
}

// ScheduleBounds holds what loadgen's own schedules hold: whole schedules
// of either arrivals on any number of lanes, and an agent's share of
// them (its lanes among all) within one send per lane more.
func TestScheduleBoundsHoldLoadgensSchedules(t *testing.T) {
	warmup := 300 * time.Millisecond
	for _, a := range []loadgen.Arrivals{loadgen.Constant, loadgen.Poisson} {
		for _, c := range []struct {
			rate         float64
			d            time.Duration
			first, n, of int
		}{
			{1, time.Second, 0, 1, 1}, {7, 100 * time.Millisecond, 0, 64, 64}, {1000, time.Second, 0, 2, 2},
			{5000, 2 * time.Second, 0, 8, 8}, {50, time.Second, 0, 256, 256},
			{200, time.Second, 0, 100, 200}, {2000, time.Second, 3, 5, 16}, {30, time.Second, 10, 40, 50},
		} {
			for seed := uint64(1); seed <= 30; seed++ {
				got := float64(sendsIn(a, c.rate, warmup, c.d, c.first, c.n, c.of, seed))
				extra := 0
				if c.n < c.of {
					extra = c.n
				}
				share := c.rate * float64(c.n) / float64(c.of)
				lo, hi := results.ScheduleBounds(share, c.d.Seconds(), extra)
				if got < lo || got > hi {
					t.Errorf("%s at %v/s, lanes %d–%d of %d over %v (seed %d): %v sends, outside %v…%v",
						a, c.rate, c.first, c.first+c.n-1, c.of, c.d, seed, got, lo, hi)
				}
				if a == loadgen.Constant {
					break // one schedule
				}
			}
		}
	}
}
