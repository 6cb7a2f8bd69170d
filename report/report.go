package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ukbench/ukbench/results"
)

// Written lists what Write produced, relative to its directory.
type Written struct {
	Files   []string
	Figures []Figure
	// Warnings are the problems of the result directories that the report
	// worked around (a step histogram that cannot be read is left out of
	// its figure): the caller prints them.
	Warnings []results.Warning
}

// Write renders sources into dir: results.csv, the figures in each format,
// report.md with a summary table per target and workload, and, when PNG
// figures are made, the self-contained report.html. A run that
// results.CheckRun refuses, or a second record of a run, is left out of
// all of them, with a warning.
func Write(dir string, sources []Source, formats []string) (Written, error) {
	var w Written
	sources, w.Warnings = believedSources(sources)
	if err := ensureDir(dir); err != nil {
		return w, err
	}
	for _, f := range formats {
		if f != "png" && f != "svg" {
			return w, fmt.Errorf("figure format %q: want png or svg", f)
		}
	}
	if err := writeTo(filepath.Join(dir, "results.csv"), func(out io.Writer) error { return WriteCSV(out, sources) }); err != nil {
		return w, err
	}
	w.Files = append(w.Files, "results.csv")
	ss := buildSeries(sources)
	w.Warnings = append(w.Warnings, dropBadHists(ss)...)
	tcg := false
	for _, s := range ss {
		tcg = tcg || s.Accel == "tcg" || s.Accel == "mixed"
	}
	figs, err := writeFigures(dir, ss, formats, tcg)
	if err != nil {
		return w, err
	}
	w.Figures = figs
	for _, f := range figs {
		w.Files = append(w.Files, f.Files...)
	}
	if err := writeTo(filepath.Join(dir, "report.md"), func(out io.Writer) error { return writeMarkdown(out, sources, ss, figs, tcg) }); err != nil {
		return w, err
	}
	w.Files = append(w.Files, "report.md")
	if hasPNG(formats) {
		if err := writeTo(filepath.Join(dir, "report.html"), func(out io.Writer) error { return writeHTML(out, dir, sources, ss, figs, tcg) }); err != nil {
			return w, err
		}
		w.Files = append(w.Files, "report.html")
	}
	return w, nil
}

func writeTo(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(write(f), f.Close())
}

// writeMarkdown writes the summary: a TCG banner when it applies, a row
// per target and workload, and the figures.
func writeMarkdown(w io.Writer, sources []Source, ss []*series, figs []Figure, tcg bool) error {
	fmt.Fprintln(w, "# ukbench report")
	fmt.Fprintln(w)
	var labels []string
	for _, s := range sources {
		labels = append(labels, "`"+s.Label+"`")
	}
	fmt.Fprintf(w, "Results: %s.\n\n", strings.Join(labels, ", "))
	if tcg {
		fmt.Fprintln(w, "> **TCG**: some of these results come from software emulation (no KVM). Absolute rates are far below")
		fmt.Fprintln(w, "> what a hardware-accelerated guest serves; compare targets with each other, not with published figures.")
		for _, why := range tcgReasons(sources) {
			fmt.Fprintf(w, "> Why TCG: %s.\n", why)
		}
		fmt.Fprintln(w)
	}
	if b := timerBanner(sources, ss); b != "" {
		fmt.Fprintf(w, "> **Host timers**: %s\n\n", b)
	}
	fmt.Fprintln(w, "| target | workload | accel | runs | max sustainable req/s (median, min–max) | p50 / p99 latency | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, s := range ss {
		fmt.Fprintf(w, "| %s |\n", strings.Join(summaryCells(s), " | "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Latency is measured from each request's intended send time, at the highest offered rate at or below")
	fmt.Fprintln(w, "the median maximum sustainable rate (else the lowest rate run); medians over repeats. "+limitedLegend)
	writeFailedMarkdown(w, failedRuns(sources))
	writeStudyMarkdown(w, studyTables(ss))
	for _, f := range figs {
		fmt.Fprintf(w, "\n## %s\n\n", f.Title)
		for _, file := range f.Files {
			if strings.HasSuffix(file, ".png") {
				fmt.Fprintf(w, "![%s](%s)\n", f.Title, file)
			}
		}
		fmt.Fprintf(w, "\nFiles: %s\n", strings.Join(f.Files, ", "))
	}
	return nil
}

// summaryCells is one target's row of the summary table.
func summaryCells(s *series) []string {
	runs := fmt.Sprint(s.Runs)
	if s.Failed > 0 {
		runs += fmt.Sprintf(" (%d failed)", s.Failed)
	}
	maxCell := "no finished run"
	if m, lo, hi, ok := Spread(s.MaxRPS); ok {
		maxCell = fmt.Sprintf("%s (%s–%s)", compact(m), compact(lo), compact(hi))
		if !s.Bounded {
			maxCell = "≥ " + maxCell + ", every rate tried was sustainable"
		}
		if m == 0 {
			maxCell = "none sustainable"
		}
	}
	return []string{s.Name, s.Workload, s.Accel, runs, maxCell, latencyCell(s), errorsCell(s)}
}

// referencePoint is the highest offered rate at or below the median
// maximum sustainable rate, else the lowest rate.
func referencePoint(s *series) (ratePoint, bool) {
	if len(s.Points) == 0 {
		return ratePoint{}, false
	}
	ref := s.Points[0]
	if m, _, _, ok := Spread(s.MaxRPS); ok {
		for _, p := range s.Points {
			if p.Offered <= m {
				ref = p
			}
		}
	}
	return ref, true
}

func latencyCell(s *series) string {
	ref, ok := referencePoint(s)
	if !ok {
		return "–"
	}
	p50, _, _, ok50 := Spread(ref.P50)
	p99, _, _, ok99 := Spread(ref.P99)
	if !ok50 || !ok99 {
		return fmt.Sprintf("no answers at %s/s", compact(ref.Offered))
	}
	return fmt.Sprintf("%s%s / %s%s at %s/s", readableLatency(p50), limitedMark(ref.Limited50, len(ref.P50)),
		readableLatency(p99), limitedMark(ref.Limited99, len(ref.P99)), compact(ref.Offered))
}

func lossCell(s *series) string {
	worst := 0.0
	for _, p := range s.Points {
		for _, l := range p.Loss {
			worst = max(worst, l)
		}
	}
	if worst == 0 {
		return "none"
	}
	return fmt.Sprintf("up to %.1f%% lost", 100*worst)
}

func hasPNG(formats []string) bool {
	for _, f := range formats {
		if f == "png" {
			return true
		}
	}
	return false
}
