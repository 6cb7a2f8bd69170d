package loadgen

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ukbench/ukbench/results"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// WriteLog writes the recorder's histograms as an HdrHistogram interval log
// (readable by HdrHistogram's plotters and HistogramLogProcessor), tagged
// "latency" (from the intended send time), "service" (from the actual
// send) and "send_delay" (the generator's own, actual − intended send
// time of the sends that did not wait for a connection or ID), in
// microseconds. start and end bound the interval.
func (r *Recorder) WriteLog(w io.Writer, start, end time.Time, comment string) error {
	lw := hdrhistogram.NewHistogramLogWriter(w)
	if err := lw.OutputLogFormatVersion(); err != nil {
		return err
	}
	if comment != "" {
		if err := lw.OutputComment(comment); err != nil {
			return err
		}
	}
	if err := lw.OutputComment("values in microseconds"); err != nil {
		return err
	}
	if err := lw.OutputStartTime(start.UnixMilli()); err != nil {
		return err
	}
	if err := lw.OutputLegend(); err != nil {
		return err
	}
	for _, h := range []struct {
		tag  string
		hist *hdrhistogram.Histogram
	}{{"latency", r.Latency}, {"service", r.Service}, {"send_delay", r.SendDelay}} {
		c := h.hist.Clone()
		c.SetTag(h.tag)
		c.SetStartTimeMs(start.UnixMilli())
		c.SetEndTimeMs(end.UnixMilli())
		if err := lw.OutputIntervalHistogram(c); err != nil {
			return fmt.Errorf("histogram log: %w", err)
		}
	}
	return nil
}

// WriteStepLog writes step n's (1-based) histograms into dir as
// results.HistFileName names it, over the interval from the step's start
// (o.Started) to now.
func WriteStepLog(dir string, n int, o StepOutcome) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, results.HistFileName(n, o.Step.OfferedRPS)))
	if err != nil {
		return err
	}
	err = o.Hist.WriteLog(f, o.Started, time.Now(), fmt.Sprintf("offered %.0f/s", o.Step.OfferedRPS))
	return errors.Join(err, f.Close())
}
