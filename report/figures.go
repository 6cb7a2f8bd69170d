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

	"github.com/ukbench/ukbench/results"
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
		for _, f := range []struct {
			name string
			draw func(string, []*series, map[string]color.RGBA, string) (*plot.Plot, error)
		}{
			{wl + "-throughput", throughputPlot},
			{wl + "-throughput-box", throughputBoxPlot},
			{wl + "-latency", latencyPlot},
			{wl + "-loss", lossPlot},
		} {
			p, err := f.draw(wl, mine, colors, suffix)
			if err != nil {
				return nil, err
			}
			fig, err := saveFigure(dir, f.name, p, formats)
			if err != nil {
				return nil, err
			}
			figs = append(figs, fig)
		}
		// The percentile distribution needs the step histograms.
		p, err := percentilePlot(wl, mine, colors, suffix)
		if err != nil {
			return nil, err
		}
		if p != nil {
			fig, err := saveFigure(dir, wl+"-percentiles", p, formats)
			if err != nil {
				return nil, err
			}
			figs = append(figs, fig)
		}
	}
	// Boot and memory are per target, whatever the workload.
	for _, f := range []struct {
		name string
		draw func([]*series, map[string]color.RGBA, string) (*plot.Plot, error)
	}{{"boot", bootPlot}, {"memory", memoryPlot}} {
		p, err := f.draw(ss, colors, suffix)
		if err != nil {
			return nil, err
		}
		if p == nil {
			continue // nothing recorded (native or external runs only)
		}
		fig, err := saveFigure(dir, f.name, p, formats)
		if err != nil {
			return nil, err
		}
		figs = append(figs, fig)
	}
	return figs, nil
}

func saveFigure(dir, base string, p *plot.Plot, formats []string) (Figure, error) {
	fig := Figure{Title: p.Title.Text}
	for _, format := range formats {
		name := base + "." + format
		if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, filepath.Join(dir, name)); err != nil {
			return fig, fmt.Errorf("figure %s: %w", name, err)
		}
		fig.Files = append(fig.Files, name)
	}
	return fig, nil
}

// throughputBoxPlot: the achieved rate over repeats as a box per target at
// each offered rate, as the Utah study drew its figures.
func throughputBoxPlot(wl string, ss []*series, colors map[string]color.RGBA, suffix string) (*plot.Plot, error) {
	p := newRatePlot(wl, "achieved rate over repeats, per offered rate", "achieved rate (answers/s)", suffix)
	w := vg.Points(6)
	for i, s := range ss {
		c := colors[s.Name]
		first := true
		for _, pt := range s.Points {
			if len(pt.Achieved) == 0 {
				continue
			}
			b, err := plotter.NewBoxPlot(w, pt.Offered, plotter.Values(pt.Achieved))
			if err != nil {
				return nil, err
			}
			b.Offset = vg.Length(float64(i)-float64(len(ss)-1)/2) * (w + vg.Points(1))
			b.BoxStyle.Color, b.MedianStyle.Color, b.WhiskerStyle.Color = c, c, c
			p.Add(b)
			if first {
				swatch := &plotter.Line{LineStyle: draw.LineStyle{Color: c, Width: vg.Points(6)}}
				p.Legend.Add(s.Name, swatch)
				first = false
			}
		}
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// lossPlot: the median fraction of requests without a good answer.
func lossPlot(wl string, ss []*series, colors map[string]color.RGBA, suffix string) (*plot.Plot, error) {
	p := newRatePlot(wl, "loss vs offered rate", "requests without a good answer (%)", suffix)
	p.Y.Min, p.Y.Max = 0, 100
	for _, s := range ss {
		var pts plotter.XYs
		for _, pt := range s.Points {
			if m, _, _, ok := Spread(pt.Loss); ok {
				pts = append(pts, plotter.XY{X: pt.Offered, Y: 100 * m})
			}
		}
		if len(pts) == 0 {
			continue
		}
		if _, _, err := addLine(p, pts, colors[s.Name], s.Name); err != nil {
			return nil, err
		}
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// targetsWith returns one series per target name that has values, so a
// target run with several workloads appears once.
func targetsWith(ss []*series, has func(*series) bool) []*series {
	seen := map[string]*series{}
	var out []*series
	for _, s := range ss {
		if !has(s) {
			continue
		}
		if prev, ok := seen[s.Name]; ok {
			prev.Boots = append(prev.Boots, s.Boots...)
			prev.RSSKiB = append(prev.RSSKiB, s.RSSKiB...)
			continue
		}
		c := *s
		c.Boots = append([]results.Boot(nil), s.Boots...)
		c.RSSKiB = append([]float64(nil), s.RSSKiB...)
		seen[s.Name] = &c
		out = append(out, &c)
	}
	return out
}

// bootPlot: median boot figures per target (QEMU start, console ready,
// first answer); nil when no run recorded one.
func bootPlot(ss []*series, colors map[string]color.RGBA, suffix string) (*plot.Plot, error) {
	ts := targetsWith(ss, func(s *series) bool { return len(s.Boots) > 0 })
	if len(ts) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "Boot: milliseconds from exec (QEMU, or the native server)" + suffix
	p.Y.Label.Text = "ms"
	p.Legend.Top = true
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	phases := []struct {
		name string
		get  func(results.Boot) float64
	}{{"QEMU start (QMP ready)", func(b results.Boot) float64 { return b.QEMUStartMS }},
		{"console ready", func(b results.Boot) float64 { return b.ConsoleReadyMS }},
		{"first answer", func(b results.Boot) float64 { return b.FirstAnswerMS }}}
	w := vg.Points(12)
	top := 0.0
	shades := []color.RGBA{{0, 114, 178, 255}, {230, 159, 0, 255}, {0, 158, 115, 255}}
	for i, ph := range phases {
		var vals plotter.Values
		for _, t := range ts {
			var v []float64
			for _, b := range t.Boots {
				v = append(v, ph.get(b))
			}
			m, _, _, _ := Spread(v)
			vals = append(vals, m)
			top = max(top, m)
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Offset = vg.Length(i-1) * w
		bars.Color = shades[i]
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(ph.name, bars)
	}
	finishBars(p, names)
	p.Y.Max = top * 1.35 // room for the legend above the bars
	return p, nil
}

// memoryPlot: median QEMU RSS per target after boot, with min–max; nil
// when no run recorded it.
func memoryPlot(ss []*series, colors map[string]color.RGBA, suffix string) (*plot.Plot, error) {
	ts := targetsWith(ss, func(s *series) bool { return len(s.RSSKiB) > 0 })
	if len(ts) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "Memory: QEMU resident set after boot" + suffix
	p.Y.Label.Text = "MiB"
	names := make([]string, len(ts))
	var vals plotter.Values
	for i, t := range ts {
		names[i] = t.Name
		m, _, _, _ := Spread(t.RSSKiB)
		vals = append(vals, m/1024)
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(24))
	if err != nil {
		return nil, err
	}
	bars.Color = okabeIto[0]
	bars.LineStyle.Width = 0
	p.Add(bars)
	finishBars(p, names)
	return p, nil
}

// finishBars names the bar groups on x, with room at both ends so that the
// outer bars are not cut, and adds a grid.
func finishBars(p *plot.Plot, names []string) {
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.75, float64(len(names))-0.25
	p.Add(plotter.NewGrid())
}

// newRatePlot starts a figure with offered rate on x, for one workload.
func newRatePlot(wl, what, yLabel, suffix string) *plot.Plot {
	p := plot.New()
	p.Title.Text = strings.ToUpper(wl) + ": " + what + suffix
	p.X.Label.Text = "offered rate (requests/s)"
	p.Y.Label.Text = yLabel
	p.Legend.Top, p.Legend.Left = true, true
	return p
}

// addLine draws pts as a line with points in colour c and names it in
// the legend.
func addLine(p *plot.Plot, pts plotter.XYs, c color.RGBA, name string) (*plotter.Line, *plotter.Scatter, error) {
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, nil, err
	}
	line.Color, points.Color = c, c
	p.Add(line, points)
	p.Legend.Add(name, line, points)
	return line, points, nil
}

// throughputPlot: median achieved rate per offered rate, the min–max spread
// over repeats as error bars, the ideal y = x, and each series' median
// maximum sustainable rate as a dashed vertical line.
func throughputPlot(wl string, ss []*series, colors map[string]color.RGBA, suffix string) (*plot.Plot, error) {
	p := newRatePlot(wl, "achieved vs offered rate", "achieved rate (answers/s)", suffix)
	maxOffered := 0.0
	for _, s := range ss {
		var pts plotter.XYs
		var errs plotter.YErrors
		for _, pt := range s.Points {
			m, lo, hi, ok := Spread(pt.Achieved)
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
		c := colors[s.Name]
		if _, _, err := addLine(p, pts, c, s.Name); err != nil {
			return nil, err
		}
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{pts, errs})
		if err != nil {
			return nil, err
		}
		eb.Color = c
		p.Add(eb)
		if m, _, _, ok := Spread(s.MaxRPS); ok && m > 0 {
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
	p := newRatePlot(wl, "latency vs offered rate", "latency from intended send (ms, log)", suffix)
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks125{}
	drawn := 0
	for _, s := range ss {
		for _, q := range []struct {
			name   string
			get    func(ratePoint) []float64
			dashed bool
		}{{"p50", func(r ratePoint) []float64 { return r.P50 }, false}, {"p99", func(r ratePoint) []float64 { return r.P99 }, true}} {
			var pts plotter.XYs
			for _, pt := range s.Points {
				if m, _, _, ok := Spread(q.get(pt)); ok && m > 0 {
					pts = append(pts, plotter.XY{X: pt.Offered, Y: m / 1000})
				}
			}
			if len(pts) == 0 {
				continue
			}
			line, points, err := addLine(p, pts, colors[s.Name], s.Name+" "+q.name)
			if err != nil {
				return nil, err
			}
			if q.dashed {
				line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
				points.Shape = draw.TriangleGlyph{}
			}
			drawn++
		}
	}
	if drawn == 0 {
		// No step recorded a latency: an empty log axis still needs a
		// positive range.
		p.Y.Min, p.Y.Max = 0.1, 1
		p.Title.Text += " (no latencies recorded)"
	}
	logRange(&p.Y, 2)
	p.Add(plotter.NewGrid())
	return p, nil
}

// logRange makes a log axis's data range drawable: positive and not
// empty. gonum widens an empty range (one point, or equal values) by ±1,
// which takes a log axis to zero or below and panics; widen it by the
// factor span instead, about its value.
func logRange(a *plot.Axis, span float64) {
	ok := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }
	switch {
	case !ok(a.Min) && !ok(a.Max):
		a.Min, a.Max = 0.1, 1
	case !ok(a.Min):
		a.Min = a.Max / span
	case !ok(a.Max):
		a.Max = a.Min * span
	}
	if a.Min > a.Max {
		a.Min, a.Max = a.Max, a.Min
	}
	if a.Max < a.Min*1.0001 {
		a.Min, a.Max = a.Min/span, a.Max*span
	}
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
