package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ukbench/ukbench/report"
	"github.com/ukbench/ukbench/results"
)

const reportUsage = `Usage: ukbench report [flags] DIR [DIR...]

Writes figures (PNG, SVG), report.md and results.csv from one or more
result directories (or runs.jsonl files); several are combined, each
labelled by its path.
`

func runReport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", reportUsage, stderr)
	out := fs.String("o", "", "output directory (default: DIR/report of the first DIR)")
	formats := fs.String("format", "png,svg", "figure formats: png, svg")
	args, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return usageError("report: want at least one result directory")
	}
	var sources []report.Source
	for _, dir := range args {
		runs, err := readRuns(dir, stderr)
		if err != nil {
			return usage(err)
		}
		src := report.Source{Label: dir, Runs: runs, Dir: dir}
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			src.Dir = filepath.Dir(dir) // a runs file: its directory
		}
		sources = append(sources, src)
	}
	if *out == "" {
		*out = filepath.Join(args[0], "report")
	}
	w, err := report.Write(*out, sources, strings.Split(*formats, ","))
	for _, warn := range w.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", warn)
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(stdout, "report: %s (%d files)\n", filepath.Join(*out, "report.md"), len(w.Files))
	return nil
}

// readRuns reads the runs of a result directory or runs file, skipping a
// torn final line (an unfinished run) with a warning on stderr.
func readRuns(path string, stderr io.Writer) ([]results.Run, error) {
	runs, warns, err := results.ReadRunsWarn(path)
	for _, w := range warns {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	return runs, err
}
