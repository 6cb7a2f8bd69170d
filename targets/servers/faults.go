package servers

import (
	"sync"
	"sync/atomic"
	"time"
)

// Faults make a server slower or lossy on purpose, so that the generators'
// accuracy and the regression gate can be tested against a known truth.
// The zero value injects nothing.
type Faults struct {
	// Delay holds every answer this long.
	Delay time.Duration
	// DropEvery drops (DNS) or fails with 503 (HTTP) every Nth request;
	// 0 never.
	DropEvery uint64
	// StallAfter and StallFor: starting StallAfter after the first
	// request, every answer is held until the stall window of StallFor
	// has passed.
	StallAfter, StallFor time.Duration
}

// faultState applies Faults; safe for concurrent use.
type faultState struct {
	f     Faults
	count atomic.Uint64
	once  sync.Once
	first time.Time
}

// apply is called once per request. It sleeps as the faults require and
// reports whether the request must be dropped.
func (s *faultState) apply() (drop bool) {
	n := s.count.Add(1)
	if s.f.DropEvery > 0 && n%s.f.DropEvery == 0 {
		return true
	}
	if s.f.StallFor > 0 {
		s.once.Do(func() { s.first = time.Now() })
		begin := s.first.Add(s.f.StallAfter)
		end := begin.Add(s.f.StallFor)
		if now := time.Now(); !now.Before(begin) && now.Before(end) {
			time.Sleep(end.Sub(now))
		}
	}
	if s.f.Delay > 0 {
		time.Sleep(s.f.Delay)
	}
	return false
}

func (s *faultState) active() bool { return s.f != Faults{} }
