package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ukbench/ukbench/report"
	"github.com/ukbench/ukbench/results"
)

// errRegression is returned when the comparison found a regression
// (exit status 1).
var errRegression = errors.New("regression")

const compareUsage = `Usage: ukbench compare [flags] BASE NEW
       ukbench compare [flags] --base-target linux --new-target osv DIR

Compares two result directories (or runs.jsonl files) metric by metric:
medians over repeats with confidence intervals and a Mann–Whitney U test.
A regression is a change that is significant and worse than --threshold.
Exit status: 0 no regression, 1 regression, 2 bad input, including a
comparison of nothing (an unknown --metric, a target without runs, no
metric measured on both sides).
`

func runCompare(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compare", compareUsage, stderr)
	var (
		baseTarget, newTarget, metrics, mdOut, jsonOut string
		opt                                            report.CompareOptions
	)
	fs.StringVar(&baseTarget, "base-target", "", "with one directory: the target that is the base")
	fs.StringVar(&newTarget, "new-target", "", "with one directory: the target compared against it")
	fs.StringVar(&metrics, "metric", "", "compare only metrics starting with these comma-separated prefixes (max_rps, achieved_rps, p50_us, p99_us, boot_, qemu_rss_kib)")
	fs.Float64Var(&opt.Threshold, "threshold", 0.05, "a significant change worse than this fraction is a regression")
	fs.Float64Var(&opt.Alpha, "alpha", 0.05, "significance level of the Mann–Whitney U test")
	fs.BoolVar(&opt.AllowMismatch, "allow-mismatch", false, "compare results from different accelerators or VM shapes")
	fs.StringVar(&mdOut, "markdown", "", "also write the comparison as Markdown to this file")
	fs.StringVar(&jsonOut, "json", "", "also write the verdict per metric as JSON to this file")
	args, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	switch {
	case opt.Threshold < 0 || opt.Threshold >= 1:
		return usageError("compare: --threshold %g: want a fraction from 0 to 1", opt.Threshold)
	case opt.Alpha <= 0 || opt.Alpha >= 1:
		return usageError("compare: --alpha %g: want a level between 0 and 1", opt.Alpha)
	}
	if metrics != "" {
		for _, m := range strings.Split(metrics, ",") {
			opt.Metrics = append(opt.Metrics, strings.TrimSpace(m))
		}
	}
	var base, new report.Side
	switch {
	case (baseTarget == "") != (newTarget == ""):
		return usageError("compare: --base-target and --new-target go together")
	case baseTarget != "":
		if len(args) != 1 {
			return usageError("compare: with --base-target, give one result directory (got %d arguments)", len(args))
		}
		runs, err := readRuns(args[0], stderr)
		if err != nil {
			return usage(err)
		}
		// Labels are the directories until the manifests are read.
		base = report.Side{Label: args[0], Runs: runs, Target: baseTarget}
		new = report.Side{Label: args[0], Runs: runs, Target: newTarget}
	default:
		if len(args) != 2 {
			return usageError("compare: want BASE and NEW result directories (got %d arguments)", len(args))
		}
		b, err := readRuns(args[0], stderr)
		if err != nil {
			return usage(err)
		}
		n, err := readRuns(args[1], stderr)
		if err != nil {
			return usage(err)
		}
		base = report.Side{Label: args[0], Runs: b}
		new = report.Side{Label: args[1], Runs: n}
	}
	for _, side := range []*report.Side{&base, &new} {
		shape, err := results.ReadVMShape(side.Label)
		if err != nil {
			return usage(err)
		}
		side.VMShape = shape
	}
	if baseTarget != "" {
		base.Label += " " + baseTarget
		new.Label += " " + newTarget
	}
	c, err := report.Compare(base, new, opt)
	if err != nil {
		return usage(err)
	}
	if err := c.WriteText(stdout); err != nil {
		return err
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{{mdOut, c.WriteMarkdown}, {jsonOut, c.WriteJSON}} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, out.write); err != nil {
			return err
		}
	}
	if c.Regressions > 0 {
		return fmt.Errorf("%w: %s", errRegression, c.Summary())
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = write(f)
	return errors.Join(err, f.Close())
}
