package report

import (
	"fmt"
	"io"
	"strings"
)

// The Utah study ("Performance Evaluation of OSv for Server Applications",
// University of Utah) as data: the figures it published, which the report
// shows beside a run's and never mixes with them. They were measured under
// Xen 4.4 from a physical client; absolute figures cannot match under
// QEMU (let alone TCG), so the report sets the OSv/Linux ratios side by
// side.

// StudyLabel names where the study's figures come from, on every row that
// shows one.
const StudyLabel = "the Utah study (Xen 4.4, physical client)"

// Study metrics.
const (
	StudyMaxRPS    = "max_rps"    // highest rate held (the plateau or the collapse point)
	StudyLatencyUS = "latency_us" // latency at the study's highest offered rate
)

// StudyFigure is one published figure of the study.
type StudyFigure struct {
	Workload string // dns or http
	Side     string // "linux" or "osv"
	Server   string // what ran: BIND, Apache, lighttpd
	Metric   string // StudyMaxRPS or StudyLatencyUS
	// Lo and Hi are the value (Lo == Hi) or the range read off the study's
	// plots; all are approximate.
	Lo, Hi float64
	// AtLeast: the rate was held up to the highest rate the study offered,
	// so the server's maximum is at least Lo.
	AtLeast bool
	Note    string
}

// Study is the study's published figures.
var Study = []StudyFigure{
	{Workload: "dns", Side: "linux", Server: "BIND", Metric: StudyMaxRPS, Lo: 19000, Hi: 19000, Note: "plateau near 19,000 answers/s"},
	{Workload: "dns", Side: "osv", Server: "BIND", Metric: StudyMaxRPS, Lo: 28000, Hi: 28000, Note: "plateau near 28,000 answers/s, lower median latency"},
	{Workload: "http", Side: "linux", Server: "Apache", Metric: StudyMaxRPS, Lo: 4000, Hi: 4000, Note: "collapses above about 4,000 requests/s"},
	{Workload: "http", Side: "osv", Server: "lighttpd", Metric: StudyMaxRPS, Lo: 5000, Hi: 5000, AtLeast: true, Note: "holds 5,000/s, the highest rate offered"},
	{Workload: "http", Side: "linux", Server: "Apache", Metric: StudyLatencyUS, Lo: 200e3, Hi: 200e3, Note: "about 200 ms past the collapse"},
	{Workload: "http", Side: "osv", Server: "lighttpd", Metric: StudyLatencyUS, Lo: 1e3, Hi: 7e3, Note: "1–7 ms at 5,000/s"},
}

// StudyPair is a Linux and an OSv target of the shipped configs
// (configs/utah-dns.yaml, utah-http.yaml) that stand for the study's two
// sides.
type StudyPair struct {
	Workload   string
	Linux, OSv string // target names
	What       string // which pairing
}

// StudyPairs are the pairings the shipped configs run.
var StudyPairs = []StudyPair{
	{Workload: "dns", Linux: "linux-bind", OSv: "osv", What: "the study's: BIND on Linux; OSv runs ukbench's server (no BIND for OSv)"},
	{Workload: "dns", Linux: "linux", OSv: "osv", What: "controlled: ukbench serve dns on both"},
	{Workload: "http", Linux: "linux-apache", OSv: "osv-lighttpd", What: "the study's: Apache on Linux, lighttpd on OSv"},
	{Workload: "http", Linux: "linux-lighttpd", OSv: "osv-lighttpd", What: "controlled: lighttpd on both"},
}

// studyTable is the "study vs this run" table of one workload.
type studyTable struct {
	Workload string
	Header   []string
	Rows     [][]string
}

// studyTables compares the study with the series of a run: a table per
// workload that has one of StudyPairs' Linux targets, its first rows the
// study's figures, the next this run's pairs (a side not run shows "not
// run").
func studyTables(ss []*series) []studyTable {
	var out []studyTable
	for _, wl := range []string{"dns", "http"} {
		t := studyTable{Workload: wl, Header: []string{"source", "metric", "Linux", "OSv", "OSv/Linux"}}
		for _, metric := range []string{StudyMaxRPS, StudyLatencyUS} {
			lin, osv := studyFigure(wl, "linux", metric), studyFigure(wl, "osv", metric)
			if lin == nil || osv == nil {
				continue
			}
			t.Rows = append(t.Rows, []string{StudyLabel + ": " + lin.Server + " / " + osv.Server, studyMetricName(metric),
				studyValue(*lin), studyValue(*osv), studyRatio(*lin, *osv)})
		}
		ran := false
		for _, p := range StudyPairs {
			if p.Workload != wl {
				continue
			}
			lin, osv := findSeries(ss, p.Linux, wl), findSeries(ss, p.OSv, wl)
			if lin == nil {
				continue
			}
			ran = true
			src := "this run, " + p.What + ": " + p.Linux + " / " + p.OSv
			lv, lok := maxRPS(lin)
			row := []string{src, studyMetricName(StudyMaxRPS), rateCell(lin, lv, lok), "not run", "–"}
			if osv != nil {
				ov, ook := maxRPS(osv)
				row[3] = rateCell(osv, ov, ook)
				if lok && ook && lv > 0 {
					row[4] = fmt.Sprintf("%.2f", ov/lv)
				}
			}
			t.Rows = append(t.Rows, row)
			if osv != nil {
				if rate, l, o, ok := p99AtCommonTop(lin, osv); ok {
					t.Rows = append(t.Rows, []string{src, fmt.Sprintf("p99 latency at %s/s", compact(rate)),
						readableLatency(l), readableLatency(o), fmt.Sprintf("%.2f", o/l)})
				}
			}
		}
		if ran {
			out = append(out, t)
		}
	}
	return out
}

func studyFigure(workload, side, metric string) *StudyFigure {
	for i, f := range Study {
		if f.Workload == workload && f.Side == side && f.Metric == metric {
			return &Study[i]
		}
	}
	return nil
}

func studyMetricName(metric string) string {
	if metric == StudyMaxRPS {
		return "max sustainable req/s"
	}
	return "latency at the highest rate"
}

func studyValue(f StudyFigure) string {
	v := func(x float64) string {
		if f.Metric == StudyLatencyUS {
			return readableLatency(x)
		}
		return compact(x) + "/s"
	}
	s := "≈ " + v(f.Lo)
	if f.Hi != f.Lo {
		s = v(f.Lo) + " – " + v(f.Hi)
	}
	if f.AtLeast {
		s = "≥ " + strings.TrimPrefix(s, "≈ ")
	}
	return s + " (" + f.Note + ")"
}

// studyRatio is OSv/Linux of the study's figures (a range when either is).
func studyRatio(lin, osv StudyFigure) string {
	lo, hi := osv.Lo/lin.Hi, osv.Hi/lin.Lo
	r := fmt.Sprintf("≈ %.2f", lo)
	if hi != lo {
		r = fmt.Sprintf("%.3g – %.3g", lo, hi)
	}
	if osv.AtLeast && !lin.AtLeast {
		r = "≥ " + strings.TrimPrefix(r, "≈ ")
	}
	return r
}

// findSeries is the series of a target and workload (a target of any
// source when several are combined).
func findSeries(ss []*series, target, workload string) *series {
	for _, s := range ss {
		if s.Workload == workload && (s.Name == target || strings.HasSuffix(s.Name, ": "+target)) {
			return s
		}
	}
	return nil
}

func maxRPS(s *series) (float64, bool) {
	m, _, _, ok := Spread(s.MaxRPS)
	return m, ok
}

func rateCell(s *series, v float64, ok bool) string {
	switch {
	case !ok:
		return "no finished run"
	case v == 0:
		return "none sustainable (" + s.Accel + ")"
	}
	c := compact(v) + "/s"
	if !s.Bounded {
		c = "≥ " + c
	}
	return c + " (" + s.Accel + ")"
}

// p99AtCommonTop is the two series' median p99 at the highest offered
// rate both answered at.
func p99AtCommonTop(a, b *series) (rate, pa, pb float64, ok bool) {
	for _, x := range a.Points {
		for _, y := range b.Points {
			if x.Offered != y.Offered {
				continue
			}
			ma, _, _, oka := Spread(x.P99)
			mb, _, _, okb := Spread(y.P99)
			if oka && okb && ma > 0 && x.Offered >= rate {
				rate, pa, pb, ok = x.Offered, ma, mb, true
			}
		}
	}
	return rate, pa, pb, ok
}

// writeStudyMarkdown writes the "study vs this run" section of report.md.
func writeStudyMarkdown(w io.Writer, tables []studyTable) {
	for _, t := range tables {
		fmt.Fprintf(w, "\n## Study vs this run: %s\n\n", t.Workload)
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(t.Header, " | "), strings.Repeat("---|", len(t.Header)))
		for _, r := range t.Rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, studyNote)
	}
}

// studyNote says how to read the comparison.
const studyNote = "The study's figures are published ones, read off its plots, not measured here. Absolute figures " +
	"cannot match under another hypervisor (and under TCG not at all): compare the OSv/Linux ratios."
