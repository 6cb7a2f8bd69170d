package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// okabeIto is a colour-blind-safe palette (Okabe & Ito, 2008); each series
// keeps its colour in every figure.
var okabeIto = []color.RGBA{
	{0, 114, 178, 255},   // blue
	{213, 94, 0, 255},    // vermillion
	{0, 158, 115, 255},   // bluish green
	{230, 159, 0, 255},   // orange
	{204, 121, 167, 255}, // reddish purple
	{86, 180, 233, 255},  // sky blue
	{240, 228, 66, 255},  // yellow
	{0, 0, 0, 255},       // black
}

// Figure is a written figure: its title and file names (without directory).
type Figure struct {
	Title string
	Files []string
}

// writeFigures draws, per workload, achieved vs offered rate and latency
// vs offered rate, into dir in each format ("png", "svg").
func writeFigures(dir string, ss []*series, formats []string, tcg bool) ([]Figure, error) {
	colors := map[string]color.RGBA{}
	for _, s := range ss {
		if _, ok := colors[s.Name]; !ok {
			colors[s.Name] = okabeIto[len(colors)%len(okabeIto)]
		}
	}
	suffix := ""
	if tcg {
		suffix = " (TCG: software emulation)"
	}
	var figs []Figure
	for _, wl := range workloads(ss) {
		var mine []*series
		for _, s := range ss {
			if s.Workload == wl {
				mine = append(mine, s)
			}
		}
		tp, err := throughputPlot(wl, mine, colors, suffix)
		if err != nil {
			return nil, err
		}
		lp, err := latencyPlot(wl, mine, colors, suffix)
		if err != nil {
			return nil, err
		}
		for _, f := range []struct {
			p    *plot.Plot
			name string
		}{{tp, wl + "-throughput"}, {lp, wl + "-latency"}} {
			fig := Figure{Title: f.p.Title.Text}
			for _, format := range formats {
				name := f.name + "." + format
				if err := f.p.Save(16*vg.Centimeter, 10*vg.Centimeter, filepath.Join(dir, name)); err != nil {
					return nil, fmt.Errorf("figure %s: %w", name, err)
				}
				fig.Files = append(fig.Files, name)
			}
			figs = append(figs, fig)
		}
	}
	return figs, nil
}

// throughputPlot: median achieved rate per offered rate, the min–max spread
// over repeats as error bars, the ideal y = x, and each series' median
// maximum sustainable rate as a dashed vertical line.
func throughputPlot(wl string, ss []*series, colors map[string]color.RGBA, suffix string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = strings.ToUpper(wl) + ": achieved vs offered rate" + suffix
	p.X.Label.Text = "offered rate (requests/s)"
	p.Y.Label.Text = "achieved rate (answers/s)"
	p.Legend.Top, p.Legend.Left = true, true
	maxOffered := 0.0
	for _, s := range ss {
		var pts plotter.XYs
		var errs plotter.YErrors
		for _, pt := range s.Points {
			m, lo, hi, ok := spread(pt.Achieved)
			if !ok {
				continue
			}
			pts = append(pts, plotter.XY{X: pt.Offered, Y: m})
			errs = append(errs, struct{ Low, High float64 }{m - lo, hi - m})
			maxOffered = max(maxOffered, pt.Offered)
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		c := colors[s.Name]
		line.Color, points.Color = c, c
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{pts, errs})
		if err != nil {
			return nil, err
		}
		eb.Color = c
		p.Add(line, points, eb)
		p.Legend.Add(s.Name, line, points)
		if m, _, _, ok := spread(s.MaxRPS); ok && m > 0 {
			mx, err := plotter.NewLine(plotter.XYs{{X: m, Y: 0}, {X: m, Y: m}})
			if err != nil {
				return nil, err
			}
			mx.Color, mx.Dashes = c, []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(mx)
			p.Legend.Add(s.Name+" max sustainable (median)", mx)
		}
	}
	ideal, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: maxOffered, Y: maxOffered}})
	if err != nil {
		return nil, err
	}
	ideal.Color = color.RGBA{150, 150, 150, 255}
	ideal.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(ideal)
	p.Legend.Add("ideal (achieved = offered)", ideal)
	p.Add(plotter.NewGrid())
	return p, nil
}

// latencyPlot: median p50 (solid) and p99 (dashed) latency per offered
// rate, log-scale y.
func latencyPlot(wl string, ss []*series, colors map[string]color.RGBA, suffix string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = strings.ToUpper(wl) + ": latency vs offered rate" + suffix
	p.X.Label.Text = "offered rate (requests/s)"
	p.Y.Label.Text = "latency from intended send (ms, log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks125{}
	p.Legend.Top, p.Legend.Left = true, true
	for _, s := range ss {
		for _, q := range []struct {
			name   string
			get    func(ratePoint) []float64
			dashed bool
		}{{"p50", func(r ratePoint) []float64 { return r.P50 }, false}, {"p99", func(r ratePoint) []float64 { return r.P99 }, true}} {
			var pts plotter.XYs
			for _, pt := range s.Points {
				if m, _, _, ok := spread(q.get(pt)); ok && m > 0 {
					pts = append(pts, plotter.XY{X: pt.Offered, Y: m / 1000})
				}
			}
			if len(pts) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(pts)
			if err != nil {
				return nil, err
			}
			c := colors[s.Name]
			line.Color, points.Color = c, c
			if q.dashed {
				line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
				points.Shape = draw.TriangleGlyph{}
			}
			p.Add(line, points)
			p.Legend.Add(s.Name+" "+q.name, line, points)
		}
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// ensureDir makes the output directory.
func ensureDir(dir string) error { return os.MkdirAll(dir, 0o755) }

// logTicks125 labels a log axis at 1, 2 and 5 times each power of ten, so
// that a range within one decade still gets labels (gonum's LogTicks
// labels powers of ten only).
type logTicks125 struct{}

func (logTicks125) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max <= min {
		return nil
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(min)); math.Pow(10, e) <= max; e++ {
		base := math.Pow(10, e)
		for m := 1; m < 10; m++ {
			v := float64(m) * base
			if v < min || v > max {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', 3, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}
