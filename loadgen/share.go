package loadgen

import (
	"fmt"
	"time"
)

// LaneShare places a generator's lanes among the lanes of a larger step
// that several generators (agents on other hosts, issue 18) make
// together: this generator's lanes are the global lanes First to
// First+n−1 of Total, n its own count (DNSConfig.Sockets). Each lane
// carries 1/Total of the global rate, so a constant schedule stays evenly
// spaced when the generators' streams merge, and Poisson lanes draw
// independent streams (their seeds follow the global lane number). The
// zero LaneShare is a generator alone: lanes 0 to n−1 of n.
type LaneShare struct {
	First int `json:"first"`
	Total int `json:"total"`
}

// check validates the share for a generator of n lanes; errors wrap
// ErrConfig.
func (s LaneShare) check(n int) error {
	if s == (LaneShare{}) {
		return nil
	}
	if s.First < 0 || s.Total < n || s.First+n > s.Total {
		return fmt.Errorf("%w: lane share %d of %d: %d lanes must fit in [0, %d)", ErrConfig, s.First, s.Total, n, s.Total)
	}
	return nil
}

// pacer returns the schedule of local lane i of n when the generator's own
// offered rate is rate (requests per second, its share of the global
// rate): NewPacer's lane First+i of Total at the global rate.
func (s LaneShare) pacer(a Arrivals, rate float64, length time.Duration, i, n int, seed uint64) Pacer {
	if s == (LaneShare{}) {
		return NewPacer(a, rate, length, i, n, seed)
	}
	return NewPacer(a, rate*float64(s.Total)/float64(n), length, s.First+i, s.Total, seed)
}
