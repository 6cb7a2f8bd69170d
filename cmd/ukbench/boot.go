package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ukbench/ukbench/internal/privdir"
	"github.com/ukbench/ukbench/internal/yamlstrict"
	"github.com/ukbench/ukbench/report"
	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/targets"
	"github.com/ukbench/ukbench/vm"
)

const bootUsage = `Usage: ukbench boot TARGET [flags]

Boots a target N times and prints its boot figures (QEMU start, console
ready, first answer; median, min, max) and QEMU's memory. TARGET is a target
file (YAML) or KIND:APP (linux:dns, linux:http, native:dns, ...).
`

// bootRecord is one boot in `ukbench boot --out`.
type bootRecord struct {
	Boot   *results.Boot   `json:"boot,omitempty"`
	Memory *results.Memory `json:"memory,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// bootSummary is what `ukbench boot --out` writes.
type bootSummary struct {
	Target string `json:"target"`
	Kind   string `json:"kind"`
	App    string `json:"app"`
	Accel  string `json:"accel"`
	// AccelReason says why Accel was chosen (the KVM probe's verdict).
	AccelReason string          `json:"accel_reason,omitempty"`
	VM          targets.VMShape `json:"vm"`
	Command     []string        `json:"command"`
	Boots       []bootRecord    `json:"boots"`
}

func runBoot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("boot", bootUsage, stderr)
	runs := fs.Int("runs", 3, "boots")
	out := fs.String("out", "", "write the figures as JSON to this file")
	dir := fs.String("dir", "", "directory for console logs (default: a temporary one, removed)")
	accel := fs.String("accel", "", "accelerator: auto, kvm or tcg (default: $UKBENCH_ACCEL, else the target's, else auto: KVM only if it runs the probe guest)")
	timeout := fs.Duration("timeout", 0, "boot deadline, exec to first answer (default 60s KVM, 300s TCG)")
	args, err := parseFlags(fs, args, stdout)
	switch {
	case err != nil:
		return err
	case len(args) == 0:
		fmt.Fprint(stderr, bootUsage)
		return usageError("boot: no target given")
	case len(args) > 1:
		return usageError("boot: unexpected argument %q", args[1])
	}
	if *runs < 1 {
		return usageError("boot: --runs %d: want at least 1", *runs)
	}
	spec, err := targetArg(args[0])
	if err != nil {
		return err
	}
	// The accelerator first: an explicit kvm this host cannot honour fails
	// before anything is written.
	req := vm.WantedAccel(*accel, spec.VM.Accel)
	if err := req.Validate(); err != nil {
		return usageError("boot: %v", err)
	}
	sum := bootSummary{Target: spec.Label(), Kind: spec.Kind, App: spec.App, Accel: results.AccelNone}
	var settled *vm.AccelChoice
	if spec.Kind != targets.KindNative {
		c, err := vm.ResolveShapeAccel(ctx, spec.VM, req)
		if err != nil {
			return fmt.Errorf("boot: accel %s (%s): %w", req.Accel, req.Source, err)
		}
		if n := c.Notice(); n != "" {
			fmt.Fprintln(stderr, "ukbench:", n)
		}
		settled, spec.VM.Accel, sum.Accel, sum.AccelReason = &c, c.Accel, c.Accel, c.Reason
	}
	sum.VM = spec.VM.WithDefaults()
	logDir := *dir
	if logDir == "" {
		d, err := privdir.Make("boot")
		if err != nil {
			return err
		}
		defer d.Remove()
		logDir = d.Path
	} else if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	var failed error
	for i := 1; i <= *runs; i++ {
		inst, err := targets.Boot(ctx, spec, targets.BootOptions{WorkDir: logDir, RunID: fmt.Sprintf("%s-boot%d", spec.Label(), i), Log: stderr, Timeout: *timeout, Accel: settled})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("boot: interrupted during boot %d of %d (%d finished): %w", i, *runs, i-1, context.Cause(ctx))
			}
			sum.Boots = append(sum.Boots, bootRecord{Error: err.Error()})
			fmt.Fprintf(stdout, "boot %d: %v\n", i, err)
			failed = err
			continue
		}
		mem, merr := inst.Memory()
		serr := inst.Stop(context.Background())
		sum.Accel, sum.Command = inst.Accel, inst.Command
		rec := bootRecord{Boot: inst.Boot, Memory: mem}
		if e := errors.Join(merr, serr); e != nil {
			rec.Error = e.Error()
		}
		sum.Boots = append(sum.Boots, rec)
		fmt.Fprintln(stdout, bootLine(i, rec))
	}
	printBootSummary(stdout, sum)
	if *out != "" {
		data, _ := json.MarshalIndent(sum, "", "  ")
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if failed != nil {
		return fmt.Errorf("boot: at least one boot failed: %w", failed)
	}
	return nil
}

// targetArg reads a target file, or builds a spec from KIND:APP.
func targetArg(arg string) (targets.Spec, error) {
	if kind, app, ok := strings.Cut(arg, ":"); ok && !strings.ContainsAny(arg, "/.") {
		s := targets.Spec{Kind: kind, App: app}
		if err := s.Validate(); err != nil {
			return s, usageError("target %s: %v", arg, err)
		}
		return s, nil
	}
	s, err := targets.LoadSpec(arg)
	if errors.Is(err, yamlstrict.ErrConfig) {
		return s, usage(err) // bad input: exit 2, as run's config errors
	}
	return s, err
}

func bootLine(i int, r bootRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "boot %d:", i)
	if r.Boot != nil {
		fmt.Fprintf(&b, " launch %.1f ms, qemu_start %.0f ms, console_ready %.0f ms, first_answer %.0f ms",
			r.Boot.LaunchMS, r.Boot.QEMUStartMS, r.Boot.ConsoleReadyMS, r.Boot.FirstAnswerMS)
	}
	if r.Memory != nil {
		fmt.Fprintf(&b, ", qemu_rss %d KiB", r.Memory.QEMURSSKiB)
	}
	if r.Error != "" {
		fmt.Fprintf(&b, " (%s)", r.Error)
	}
	return b.String()
}

func printBootSummary(w io.Writer, s bootSummary) {
	label := s.Accel
	if label == "tcg" {
		label = "tcg: software emulation, not representative of KVM"
	}
	fmt.Fprintf(w, "\n%s (%s %s), %d boots, accel %s\n", s.Target, s.Kind, s.App, len(s.Boots), label)
	if s.AccelReason != "" {
		fmt.Fprintf(w, "accel chosen: %s\n", s.AccelReason)
	}
	fmt.Fprintf(w, "%-18s %10s %10s %10s\n", "figure (ms, KiB)", "median", "min", "max")
	for _, f := range bootFigures {
		var v []float64
		for _, b := range s.Boots {
			if x, ok := f.get(b); ok {
				v = append(v, x)
			}
		}
		med, lo, hi, ok := report.Spread(v)
		if !ok || hi == 0 {
			continue // not recorded (qemu_start of a native server)
		}
		fmt.Fprintf(w, "%-18s %10.1f %10.1f %10.1f\n", f.name, med, lo, hi)
	}
}

// bootFigures are the rows of the boot summary, in order, each named as
// in the run record and read from a boot by that name; ok is false where
// the boot did not record it.
var bootFigures = []struct {
	name string
	get  func(bootRecord) (float64, bool)
}{
	{"launch_ms", bootMS(func(b *results.Boot) float64 { return b.LaunchMS })},
	{"qemu_start_ms", bootMS(func(b *results.Boot) float64 { return b.QEMUStartMS })},
	{"console_ready_ms", bootMS(func(b *results.Boot) float64 { return b.ConsoleReadyMS })},
	{"first_answer_ms", bootMS(func(b *results.Boot) float64 { return b.FirstAnswerMS })},
	{"qemu_rss_kib", func(r bootRecord) (float64, bool) {
		if r.Memory == nil {
			return 0, false
		}
		return float64(r.Memory.QEMURSSKiB), true
	}},
}

// bootMS reads one of a boot's figures; there is none when the boot failed.
func bootMS(get func(*results.Boot) float64) func(bootRecord) (float64, bool) {
	return func(r bootRecord) (float64, bool) {
		if r.Boot == nil {
			return 0, false
		}
		return get(r.Boot), true
	}
}
