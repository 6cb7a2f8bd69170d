package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/ukbench/ukbench/results"
)

// latencyHistogram merges the "latency" histograms (from the intended
// send time, µs) of the given interval-log files.
func latencyHistogram(files []string) (*hdrhistogram.Histogram, error) {
	var merged *hdrhistogram.Histogram
	for _, f := range files {
		h, err := readLatency(f)
		if err != nil {
			return nil, err
		}
		if merged == nil {
			merged = h
		} else {
			merged.Merge(h)
		}
	}
	return merged, nil
}

// readLatency reads the "latency" histograms of one step's interval log,
// merged. A file that does not parse, or holds no latency histogram (every
// step log has one, if empty), is an error naming the file.
func readLatency(file string) (h *hdrhistogram.Histogram, err error) {
	r, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	defer func() {
		// The log reader decodes what it is given; bytes that are no
		// histogram must not take the report down with them.
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("%s: not a histogram log (%v)", file, p)
		}
	}()
	lr := hdrhistogram.NewHistogramLogReader(r)
	var merged *hdrhistogram.Histogram
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if h == nil {
			break
		}
		if h.Tag() != "latency" {
			continue
		}
		if merged == nil {
			merged = h
		} else {
			merged.Merge(h)
		}
	}
	if merged == nil {
		return nil, fmt.Errorf("%s: no latency histogram in it", file)
	}
	return merged, nil
}

// dropBadHists reads every step histogram the series name and leaves out
// those that cannot be read, with a warning each, so that a damaged file
// costs its own line in the percentile figure and nothing else.
func dropBadHists(ss []*series) []results.Warning {
	var warns []results.Warning
	for _, s := range ss {
		for i := range s.Points {
			p := &s.Points[i]
			good := p.Hists[:0]
			for _, f := range p.Hists {
				if _, err := readLatency(f); err != nil {
					warns = append(warns, results.Warning{File: f,
						Msg: fmt.Sprintf("step histogram unreadable, left out of the percentile figure: %v", err)})
					continue
				}
				good = append(good, f)
			}
			p.Hists = good
		}
	}
	return warns
}

// percentileRate picks the offered rate of the percentile figure: the
// highest rate at which every series with histograms has some (so that the
// lines compare like with like), else the highest rate of any series.
func percentileRate(ss []*series) (float64, bool) {
	count := map[float64]int{}
	n := 0
	for _, s := range ss {
		has := false
		for _, p := range s.Points {
			if len(p.Hists) > 0 {
				count[p.Offered]++
				has = true
			}
		}
		if has {
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	var rates []float64
	for r := range count {
		rates = append(rates, r)
	}
	sort.Float64s(rates)
	for i := len(rates) - 1; i >= 0; i-- {
		if count[rates[i]] == n {
			return rates[i], true
		}
	}
	return rates[len(rates)-1], true
}

// percentileXY is the latency distribution as HdrHistogram plots it: x is
// 1/(1-p) on a log axis (1 = 0th percentile, 10 = 90th, 100 = 99th, …), y
// the latency in ms. It stops where the count runs out, then adds the
// maximum.
func percentileXY(h *hdrhistogram.Histogram) plotter.XYs {
	total := float64(h.TotalCount())
	var pts plotter.XYs
	for k := 0.0; ; k += 0.05 {
		x := math.Pow(10, k)
		if x > total {
			break
		}
		q := 100 * (1 - 1/x)
		pts = append(pts, plotter.XY{X: x, Y: float64(h.ValueAtQuantile(q)) / 1000})
	}
	if total > 1 {
		pts = append(pts, plotter.XY{X: total, Y: float64(h.Max()) / 1000})
	}
	return pts
}

// percentileTicks labels the 1/(1-p) axis with percentiles.
type percentileTicks struct{}

func (percentileTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for e := 0; math.Pow(10, float64(e)) <= max*1.0001; e++ {
		x := math.Pow(10, float64(e))
		var label string
		switch e {
		case 0:
			label = "0%"
		case 1:
			label = "90%"
		default:
			label = fmt.Sprintf("%.*f%%", e-2, 100-100/x)
		}
		if x >= min/1.0001 {
			ticks = append(ticks, plot.Tick{Value: x, Label: label})
		}
	}
	return ticks
}

// percentilePlot: latency against percentile at one offered rate, one line
// per target (its repeats' histograms merged). nil when no series has
// histograms.
func percentilePlot(wl string, ss []*series, colors map[string]color.RGBA, suffix string) (*plot.Plot, error) {
	rate, ok := percentileRate(ss)
	if !ok {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: latency by percentile at %.0f/s offered%s", strings.ToUpper(wl), rate, suffix)
	p.X.Label.Text = "percentile (log 1/(1-p))"
	p.Y.Label.Text = "latency from intended send (ms, log)"
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, percentileTicks{}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, logTicks125{}
	p.Legend.Top, p.Legend.Left = true, true
	drawn := 0
	for _, s := range ss {
		for _, pt := range s.Points {
			if pt.Offered != rate || len(pt.Hists) == 0 {
				continue
			}
			h, err := latencyHistogram(pt.Hists)
			if err != nil {
				return nil, err
			}
			if h == nil || h.TotalCount() == 0 {
				continue
			}
			xy := percentileXY(h)
			for i := range xy {
				xy[i].Y = math.Max(xy[i].Y, 0.001) // a log axis needs y > 0
			}
			line, err := plotter.NewLine(xy)
			if err != nil {
				return nil, err
			}
			line.Color = colors[s.Name]
			line.Width = 1.5
			p.Add(line)
			p.Legend.Add(fmt.Sprintf("%s (%d runs, %d answers)", s.Name, len(pt.Hists), h.TotalCount()), line)
			drawn++
		}
	}
	if drawn == 0 {
		return nil, nil
	}
	logRange(&p.X, 10)
	logRange(&p.Y, 2)
	p.Add(plotter.NewGrid())
	return p, nil
}
