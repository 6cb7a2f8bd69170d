package servers

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
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
			preciseSleep(end.Sub(now))
		}
	}
	if s.f.Delay > 0 {
		preciseSleep(s.f.Delay)
	}
	return false
}

// goTimerLate is how late Go's own timers may fire on Linux (the netpoller
// sleeps in whole milliseconds), with a margin.
const goTimerLate = 1500 * time.Microsecond

// preciseSleep sleeps d within tens of microseconds: Go's timer for all but
// the last goTimerLate, then nanosleep. time.Sleep alone rounds up to about
// a millisecond, which would make 2 ms and 2.2 ms delays the same and spoil
// the known truth the faults exist to provide.
func preciseSleep(d time.Duration) {
	end := time.Now().Add(d)
	if d > goTimerLate {
		time.Sleep(d - goTimerLate)
	}
	for {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		ts := unix.NsecToTimespec(int64(left))
		_ = unix.Nanosleep(&ts, nil) // EINTR: loop
	}
}

func (s *faultState) active() bool { return s.f != Faults{} }
