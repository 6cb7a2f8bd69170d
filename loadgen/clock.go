package loadgen

import (
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// maxSleepChunk bounds one sleep so that a stop request is noticed quickly
// even at very low rates.
const maxSleepChunk = 20 * time.Millisecond

// clock measures time since a step's start on the monotonic clock.
type clock struct{ start time.Time }

func newClock() clock { return clock{start: time.Now()} }

// now returns the time since the start.
func (c clock) now() time.Duration { return time.Since(c.start) }

// lockPacingThread pins the calling goroutine to its OS thread and asks the
// kernel for 1 ns timer slack on it. Go's timers wake about 1 ms late on Linux
// (the netpoller sleeps in whole milliseconds); nanosleep on a thread with
// minimal slack wakes within tens of microseconds, which keeps sends close to
// their intended times. The thread is never unlocked, so it exits with the
// goroutine and its slack setting leaves with it.
func lockPacingThread() {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) // best effort: only precision suffers
}

// sleepUntil blocks the calling thread until the clock reads at or stop is
// set. It reports false when stopped.
func (c clock) sleepUntil(at time.Duration, stop *atomic.Bool) bool {
	for {
		if stop.Load() {
			return false
		}
		d := at - c.now()
		if d <= 0 {
			return true
		}
		if d > maxSleepChunk {
			d = maxSleepChunk
		}
		ts := unix.NsecToTimespec(int64(d))
		_ = unix.Nanosleep(&ts, nil) // EINTR: loop and re-check
	}
}
