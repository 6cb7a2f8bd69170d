package testbin

import "runtime"

// Allocated is how many bytes f allocates on the heap (after a GC, so
// that what came before is not counted). It counts every goroutine's
// allocations while f runs: a bound test, not an exact one.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
