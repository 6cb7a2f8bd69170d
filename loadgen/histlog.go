package loadgen

import (
	"fmt"
	"io"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// WriteLog writes the recorder's histograms as an HdrHistogram interval log
// (readable by HdrHistogram's plotters and HistogramLogProcessor), tagged
// "latency" (from the intended send time) and "service" (from the actual
// send), in microseconds. start and end bound the interval.
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
	}{{"latency", r.Latency}, {"service", r.Service}} {
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
