package main

import (
	"context"
	"io"

	"github.com/ukbench/ukbench/report"
)

const exportUsage = `Usage: ukbench export --format gobench|bmf DIR

Writes a result directory's runs for other tools, on stdout:
  gobench  Go benchmark format, one line per repeat: benchstat base.txt new.txt
  bmf      Bencher Metric Format JSON: medians with 95 % confidence bounds
`

func runExport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", exportUsage, stderr)
	format := fs.String("format", "gobench", "gobench or bmf")
	args, err := parseFlags(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usageError("export: want one result directory (got %d arguments)", len(args))
	}
	runs, err := readRuns(args[0], stderr)
	if err != nil {
		return usage(err)
	}
	switch *format {
	case "gobench":
		return report.WriteGoBench(stdout, runs)
	case "bmf":
		return report.WriteBMF(stdout, runs)
	}
	return usageError("export: --format %q: want gobench or bmf", *format)
}
