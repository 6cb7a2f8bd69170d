package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/ukbench/ukbench/internal/privdir"
	"github.com/ukbench/ukbench/vm"
)

// errUsage marks bad command-line input (exit status 2).
var errUsage = errors.New("usage")

// usageError wraps a usage problem with its message.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// usage marks err as bad command-line input (exit status 2), keeping its
// chain for errors.Is and errors.As.
func usage(err error) error { return fmt.Errorf("%w: %w", errUsage, err) }

func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, vm.ErrNoKVM): // asked for what this host cannot do
		return 2
	}
	return 1 // a failure (experiment.ErrRunsFailed: once the results and the report are written), or errRegression
}

const mainUsage = `ukbench measures how unikernels and Linux guests serve DNS and HTTP load.

Usage:
  ukbench run CONFIG [-o DIR]      run an experiment (configs/*.yaml): boot, sweep, repeat, report
  ukbench serve dns|http [flags]   run a benchmark server (inside a guest or natively)
  ukbench load dns|http [flags]    drive open-loop load at a running server
                                   (here, or on agents over SSH: --agent)
  ukbench agent                    make load for a coordinator over SSH
  ukbench image linux --app APP -o DIR
                                   build a Linux guest (Debian kernel + initramfs)
  ukbench boot TARGET [--runs N]   boot a target N times: boot figures and memory
  ukbench compare BASE NEW         compare two result sets; exit 1 on a regression
  ukbench export --format F DIR    write results for benchstat (gobench) or Bencher (bmf)
  ukbench report DIR...            write figures, report.md and results.csv
  ukbench version                  print the version

Run "ukbench COMMAND -h" for a command's flags. Flags go before or after a
command's arguments; "--" ends them.
`

// run is the whole CLI: it parses args, runs the command and returns its
// error; it writes results to stdout and diagnostics to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := runCommand(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h or --help: the command printed its usage and flags
	}
	return err
}

// runCommand runs the command args[0] names.
func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return usageError("no command given")
	}
	switch args[0] {
	case "run", "boot":
		// Commands that make private directories first remove the ones
		// killed ukbench processes left; best effort and quiet, a live
		// ukbench's stay.
		privdir.Sweep()
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "load":
		return runLoad(ctx, args[1:], stdout, stderr)
	case "agent":
		return runAgent(ctx, args[1:], stdout, stderr)
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

// newFlags returns a subcommand's flag set. Its usage, printed for -h and
// --help and after a bad flag, is the usage text followed by the flags.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses the flags in args, before, between and after the
// positional arguments, and returns the positional arguments in order.
// "--" ends the flags: every argument after it is positional, as is "-".
// Flags start with - or --. A boolean flag takes no value (-x, -x=false);
// another flag takes -name=value or the next argument, whatever it is. -h
// and --help print the usage and the flags to stdout and return
// flag.ErrHelp, which run turns into exit status 0; any other error is a
// usage error, printed with the usage to the flag set's output.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	flags, at := splitArgs(fs, args)
	// flags holds only flags and their values, so Parse consumes it all.
	// Its messages are kept until it is known whether they are help.
	out := fs.Output()
	var msg bytes.Buffer
	fs.SetOutput(&msg)
	err := fs.Parse(flags)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, werr := msg.WriteTo(stdout)
		return nil, cmp.Or(werr, err)
	case err != nil:
		msg.WriteTo(out)
		return nil, fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	positional := make([]string, len(at))
	for i, j := range at {
		positional[i] = args[j]
	}
	return positional, nil
}

// splitArgs splits args, read with fs's flags as parseFlags describes, into
// the flags with their values and the indexes of the positional arguments.
func splitArgs(fs *flag.FlagSet, args []string) (flags []string, positional []int) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			for j := i + 1; j < len(args); j++ {
				positional = append(positional, j)
			}
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, i)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) && i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}

// isBoolFlag reports whether f takes no value, as the flag package decides.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseKindFlags is parseFlags for a command (cmd: serve, load) whose one
// positional argument is a kind that decides its flags (serve dns, load
// http). flagSet(k) returns a new flag set for kind k. The kind is the k of
// kinds that is the first positional argument when args are read with k's
// flags; the flags are parsed with the flag set flagSet returned last, the
// kind's, so that the caller can keep the values that set fills in. Without
// a kind it prints usage to stderr and returns a usage error naming the
// kinds; with another positional argument, a usage error naming it; given
// -h or --help without a kind, it prints the usage and every kind's flags
// to stdout and returns flag.ErrHelp.
func parseKindFlags[K ~string](cmd string, args []string, usage string, kinds []K, flagSet func(kind K) *flag.FlagSet, stdout, stderr io.Writer) (K, error) {
	for _, k := range kinds {
		_, at := splitArgs(flagSet(k), args)
		if len(at) > 0 && args[at[0]] == string(k) {
			rest := slices.Delete(slices.Clone(args), at[0], at[0]+1)
			positional, err := parseFlags(flagSet(k), rest, stdout)
			if err == nil && len(positional) > 0 {
				err = usageError("%s %s: unexpected argument %q", cmd, k, positional[0])
			}
			return k, err
		}
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		switch a {
		case "-h", "-help", "--h", "--help":
			fmt.Fprint(stdout, usage)
			for _, k := range kinds {
				fs := flagSet(k)
				fmt.Fprintf(stdout, "\nFlags of %s:\n", fs.Name())
				fs.SetOutput(stdout)
				fs.PrintDefaults()
			}
			return "", flag.ErrHelp
		}
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	fmt.Fprint(stderr, usage)
	return "", usageError("%s: want %s", cmd, strings.Join(names, " or "))
}
