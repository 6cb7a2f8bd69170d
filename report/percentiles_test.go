package report

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/ukbench/ukbench/results"
)

// uniformHist records 1..n µs once each.
func uniformHist(n int64, tag string) *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, 100_000_000, 3)
	for v := int64(1); v <= n; v++ {
		h.RecordValue(v)
	}
	h.SetTag(tag)
	return h
}

func TestPercentileXYReadsTheDistribution(t *testing.T) {
	xy := percentileXY(uniformHist(10_000, "latency"))
	at := func(x float64) float64 {
		for _, p := range xy {
			if math.Abs(p.X-x)/x < 0.01 {
				return p.Y
			}
		}
		t.Fatalf("no point at x=%g", x)
		return 0
	}
	// 1..10000 µs uniform: p90 ≈ 9 ms, p99 ≈ 9.9 ms; the last point is the max.
	if y := at(10); math.Abs(y-9.0) > 0.05 {
		t.Errorf("p90 = %g ms, want ≈ 9", y)
	}
	if y := at(100); math.Abs(y-9.9) > 0.05 {
		t.Errorf("p99 = %g ms, want ≈ 9.9", y)
	}
	if last := xy[len(xy)-1]; last.X != 10_000 || math.Abs(last.Y-10) > 0.02 {
		t.Errorf("last point %+v, want the max (10 ms) at x = count", last)
	}
}

// writeHistLog writes an interval log holding a latency and a service
// histogram, as the generators do.
func writeHistLog(t *testing.T, path string, lat *hdrhistogram.Histogram) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := hdrhistogram.NewHistogramLogWriter(f)
	w.OutputLogFormatVersion()
	w.OutputStartTime(time.Now().UnixMilli())
	w.OutputLegend()
	svc := uniformHist(10, "service")
	for _, h := range []*hdrhistogram.Histogram{lat, svc} {
		if err := w.OutputIntervalHistogram(h); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPercentileFigureFromResultDirectory(t *testing.T) {
	dir := t.TempDir()
	var runs []results.Run
	for rep, n := range []int64{1000, 3000} {
		r := results.Run{Target: "linux", Workload: "dns", Repeat: rep + 1, Accel: "tcg", Hist: "hist/linux-dns-r" + string(rune('1'+rep)),
			Steps: []results.Step{{OfferedRPS: 100, DurationS: 0.05, Sent: 10, Answered: 10, AchievedRPS: 100, Valid: true}, {OfferedRPS: 200, DurationS: 0.05, Sent: 10, Answered: 10, AchievedRPS: 200, Valid: true}}}
		for i, st := range r.Steps {
			writeHistLog(t, filepath.Join(dir, r.Hist, results.HistFileName(i+1, st.OfferedRPS)), uniformHist(n, "latency"))
		}
		runs = append(runs, r)
	}
	// A second target without histograms draws no line and does not stop the figure.
	runs = append(runs, results.Run{Target: "native", Workload: "dns", Repeat: 1, Accel: "none",
		Steps: []results.Step{{OfferedRPS: 200, DurationS: 0.05, Sent: 10, Answered: 10, AchievedRPS: 200, Valid: true}}})
	ss := buildSeries([]Source{{Label: dir, Runs: runs, Dir: dir}})
	rate, ok := percentileRate(ss)
	if !ok || rate != 200 {
		t.Fatalf("percentile rate = %g, %v; want the highest rate with histograms, 200", rate, ok)
	}
	p, err := percentilePlot("dns", ss, map[string]color.RGBA{}, "")
	if err != nil || p == nil {
		t.Fatalf("percentilePlot = %v, %v", p, err)
	}
	if !strings.Contains(p.Title.Text, "200/s") {
		t.Errorf("title %q does not name the rate", p.Title.Text)
	}
	out := t.TempDir()
	w, err := Write(out, []Source{{Label: dir, Runs: runs, Dir: dir}}, []string{"png"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range w.Files {
		found = found || f == "dns-percentiles.png"
	}
	if !found {
		t.Errorf("no dns-percentiles.png among %v", w.Files)
	}
	h, err := latencyHistogram([]string{filepath.Join(dir, runs[0].Hist, results.HistFileName(2, 200)), filepath.Join(dir, runs[1].Hist, results.HistFileName(2, 200))})
	if err != nil || h.TotalCount() != 4000 {
		t.Errorf("merged latency histogram: %v, %v; want the 1000+3000 latency values only", h.TotalCount(), err)
	}
}
