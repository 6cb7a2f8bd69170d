package loadgen

import (
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxSleepChunk bounds one sleep so that a stop request is noticed quickly
// even at very low rates.
const maxSleepChunk = 20 * time.Millisecond

// clock measures time since a step's start on the monotonic clock.
// wallStart is the same instant on the wall clock, in Unix nanoseconds, to
// place kernel timestamps (which use CLOCK_REALTIME) on this clock.
type clock struct {
	start     time.Time
	wallStart int64
}

func newClock() clock {
	now := time.Now()
	return clock{start: now, wallStart: now.UnixNano()}
}

// now returns the time since the start.
func (c clock) now() time.Duration { return time.Since(c.start) }

// lockPacingThread pins the calling goroutine to its OS thread and sets its
// timer slack. Go's own timers wake about 1 ms late on Linux (the netpoller
// sleeps in whole milliseconds); nanosleep on this thread wakes within the
// slack. The thread is never unlocked, so it exits with the goroutine and
// its slack setting leaves with it.
func lockPacingThread(slack time.Duration) {
	runtime.LockOSThread()
	if slack <= 0 {
		slack = DefaultTimerSlack
	}
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0) // best effort: only precision suffers
}

// sleepUntil blocks the calling thread until the clock reads at or stop is
// set, keeping its P (see rawNanosleep). It reports false when stopped.
func (c clock) sleepUntil(at time.Duration, stop *atomic.Bool) bool {
	return c.sleepUntilWith(at, stop, rawNanosleep)
}

// sleepUntilSharingP is sleepUntil through the scheduler, which lets other
// goroutines use the P while the thread sleeps: for a pacer whose workers
// need the CPU more than the pacer needs a quiet sysmon (HTTP).
func (c clock) sleepUntilSharingP(at time.Duration, stop *atomic.Bool) bool {
	return c.sleepUntilWith(at, stop, schedNanosleep)
}

func (c clock) sleepUntilWith(at time.Duration, stop *atomic.Bool, sleep func(time.Duration)) bool {
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
		sleep(d)
	}
}

// schedNanosleep sleeps through the scheduler (entersyscall), so the P can
// run other goroutines meanwhile.
func schedNanosleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil) // EINTR: the caller loops
}

// rawNanosleep sleeps the calling thread without telling the Go scheduler.
// A syscall made through the scheduler (entersyscall) longer than 20 µs
// lets sysmon take the thread's P away, and a sysmon that keeps taking Ps
// polls every 20 µs instead of backing off to 10 ms: tens of thousands of
// wake-ups a second, on the CPU the generator needs. The pacing goroutine
// keeps its P while it sleeps (raiseProcs leaves enough for the rest), and
// the runtime's preemption signal just ends the sleep early (EINTR), after
// which the caller sleeps again. Sleeps are bounded by maxSleepChunk, so a
// stop-the-world waits at most that long.
func rawNanosleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// raiseProcs makes sure GOMAXPROCS is at least n and returns a function that
// restores it. Each pacing goroutine keeps its P while it sleeps (see
// rawNanosleep); with one P more than pacing goroutines the rest of the
// program still runs. Under taskset to one CPU GOMAXPROCS would be 1.
func raiseProcs(n int) (restore func()) {
	old := runtime.GOMAXPROCS(0)
	if old >= n {
		return func() {}
	}
	runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(old) }
}
