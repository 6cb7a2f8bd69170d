package loadgen

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ukbench/ukbench/results"
)

// Histogram range: 1 µs to 100 s at 3 significant digits (0.1 % precision),
// about 150 KiB per histogram whatever the number of samples.
const (
	histLowestUS  = 1
	histHighestUS = 100_000_000
	histSigFigs   = 3
)

// Inter-arrival histograms (Recorder.GapIntended, GapActual) are in
// nanoseconds, 1 ns to 100 s, at 2 significant digits: gaps at 40,000/s
// are 25 µs, too fine for microseconds, and 1 % is finer than any
// tolerance the delivery check uses (Limits.LateAfter).
const (
	gapLowestNS  = 1
	gapHighestNS = 100_000_000_000
	gapSigFigs   = 2
)

// Recorder holds one worker's latency histograms. It has a single writer (the
// worker that owns it) and is merged into a step total when the worker ends,
// after fortio's Clone/Transfer pattern; it never keeps individual samples.
type Recorder struct {
	// Latency is measured from the intended send time, in microseconds.
	Latency *hdrhistogram.Histogram
	// Service is measured from the actual send time, in microseconds.
	Service *hdrhistogram.Histogram
	// SendDelay is the generator's own delay, actual − intended send
	// time, of the measured sends that did not wait for a free connection
	// or ID, in microseconds.
	SendDelay *hdrhistogram.Histogram
	// GapIntended and GapActual are the intervals between consecutive
	// measured sends of one sender that did not wait for a connection or
	// ID, as scheduled and as sent, in nanoseconds.
	GapIntended, GapActual *hdrhistogram.Histogram
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{
		Latency: hdrhistogram.New(histLowestUS, histHighestUS, histSigFigs),
		Service: hdrhistogram.New(histLowestUS, histHighestUS, histSigFigs),

		SendDelay:   hdrhistogram.New(histLowestUS, histHighestUS, histSigFigs),
		GapIntended: hdrhistogram.New(gapLowestNS, gapHighestNS, gapSigFigs),
		GapActual:   hdrhistogram.New(gapLowestNS, gapHighestNS, gapSigFigs),
	}
}

// Record adds one answer: intended and sent are the request's intended and
// actual send times, done the time its answer arrived, all on one clock.
// It does not allocate.
func (r *Recorder) Record(intended, sent, done time.Duration) {
	r.Latency.RecordValue(clampUS(done - intended))
	r.Service.RecordValue(clampUS(done - sent))
}

// Merge adds o's samples to r.
func (r *Recorder) Merge(o *Recorder) {
	r.Latency.Merge(o.Latency)
	r.Service.Merge(o.Service)
	r.SendDelay.Merge(o.SendDelay)
	r.GapIntended.Merge(o.GapIntended)
	r.GapActual.Merge(o.GapActual)
}

// recordSend adds one measured send's delay and, when prev holds the
// sender's previous send, its gap from it. A blocked send (it waited for a
// free connection or ID, or queued behind one that did) is the server's
// doing, counted apart (Lag.Blocked): it adds neither, and the next send
// starts a new sequence of gaps. It does not allocate.
func (r *Recorder) recordSend(intended, sent time.Duration, blocked bool, prev *prevSend) {
	if blocked {
		prev.ok = false
		return
	}
	r.SendDelay.RecordValue(clampUS(sent - intended))
	if prev.ok {
		r.GapIntended.RecordValue(clampNS(intended - prev.intended))
		r.GapActual.RecordValue(clampNS(sent - prev.sent))
	}
	*prev = prevSend{intended: intended, sent: sent, ok: true}
}

// prevSend is a sender's previous measured send, for its inter-arrival gap.
type prevSend struct {
	intended, sent time.Duration
	ok             bool
}

func clampNS(d time.Duration) int64 {
	return min(max(int64(d), 0), gapHighestNS)
}

func clampUS(d time.Duration) int64 {
	us := d.Microseconds()
	if us < 0 {
		return 0
	}
	if us > histHighestUS {
		return histHighestUS
	}
	return us
}

// Summarize reads the percentiles of a histogram of microseconds.
func Summarize(h *hdrhistogram.Histogram) results.Latency {
	if h.TotalCount() == 0 {
		return results.Latency{}
	}
	return results.Latency{
		P50:  float64(h.ValueAtQuantile(50)),
		P90:  float64(h.ValueAtQuantile(90)),
		P99:  float64(h.ValueAtQuantile(99)),
		P999: float64(h.ValueAtQuantile(99.9)),
		Max:  float64(h.Max()),
		Mean: h.Mean(),
	}
}
