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

// Recorder holds one worker's latency histograms. It has a single writer (the
// worker that owns it) and is merged into a step total when the worker ends,
// after fortio's Clone/Transfer pattern; it never keeps individual samples.
type Recorder struct {
	// Latency is measured from the intended send time, in microseconds.
	Latency *hdrhistogram.Histogram
	// Service is measured from the actual send time, in microseconds.
	Service *hdrhistogram.Histogram
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{
		Latency: hdrhistogram.New(histLowestUS, histHighestUS, histSigFigs),
		Service: hdrhistogram.New(histLowestUS, histHighestUS, histSigFigs),
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
