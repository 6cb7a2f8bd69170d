package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// errUsage marks bad command-line input (exit status 2).
var errUsage = errors.New("usage")

// usageError wraps a usage problem with its message.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	case errors.Is(err, errRunsFailed):
		return 1 // the results and the report are written
	}
	return 1 // another failure, or errRegression
}

const mainUsage = `ukbench measures how unikernels and Linux guests serve DNS and HTTP load.

Usage:
  ukbench run CONFIG [-o DIR]      run an experiment (configs/*.yaml): boot, sweep, repeat, report
  ukbench serve dns|http [flags]   run a benchmark server (inside a guest or natively)
  ukbench load dns|http [flags]    drive open-loop load at a running server
  ukbench image linux --app APP -o DIR
                                   build a Linux guest (Debian kernel + initramfs)
  ukbench boot TARGET [--runs N]   boot a target N times: boot figures and memory
  ukbench compare BASE NEW         compare two result sets; exit 1 on a regression
  ukbench export --format F DIR    write results for benchstat (gobench) or Bencher (bmf)
  ukbench report DIR...            write figures, report.md and results.csv
  ukbench version                  print the version

Run "ukbench COMMAND -h" for a command's flags.
`

// run is the whole CLI: it parses args, runs the command and returns its
// error; it writes results to stdout and diagnostics to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return usageError("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "load":
		return runLoad(ctx, args[1:], stdout, stderr)
	case "run":
		return runExperiment(ctx, args[1:], stdout, stderr)
	case "image":
		return runImage(ctx, args[1:], stdout, stderr)
	case "boot":
		return runBoot(ctx, args[1:], stdout, stderr)
	case "compare":
		return runCompare(ctx, args[1:], stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], stdout, stderr)
	case "report":
		return runReport(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "ukbench", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, mainUsage)
		return nil
	}
	fmt.Fprint(stderr, mainUsage)
	return usageError("unknown command %q", args[0])
}

// version is the module version, or the VCS revision for a local build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			if v == "" || v == "(devel)" {
				v = "devel"
			}
			v += "+" + s.Value[:12]
		}
	}
	if v == "" {
		v = "devel"
	}
	return v
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and wraps errors as usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usageError("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
