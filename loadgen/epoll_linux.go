package loadgen

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// epollWait waits up to d for events on epfd, filling events, without
// giving up the thread's P (see rawNanosleep), with nanosecond precision
// (epoll_pwait2; whole milliseconds through epoll_wait on kernels before
// 5.11). It returns the number of events, or -1 when interrupted: the
// caller loops.
func epollWait(epfd int, events []unix.EpollEvent, d time.Duration) int {
	if !noPwait2.Load() {
		ts := unix.NsecToTimespec(int64(d))
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT2, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
			uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e == 0 {
			return int(r)
		}
		if e != unix.ENOSYS {
			return -1 // EINTR
		}
		noPwait2.Store(true)
	}
	ms := int((d + time.Millisecond - 1) / time.Millisecond)
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), uintptr(ms), 0, 0)
	if e != 0 {
		return -1
	}
	return int(r)
}

// noPwait2 is set once epoll_pwait2 is found missing.
var noPwait2 atomic.Bool
