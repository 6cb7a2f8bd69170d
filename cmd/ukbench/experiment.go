package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ukbench/ukbench/loadgen"

	"github.com/ukbench/ukbench/experiment"
	"github.com/ukbench/ukbench/internal/yamlstrict"
	"github.com/ukbench/ukbench/report"
	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/targets"
	"github.com/ukbench/ukbench/vm"
)

const experimentUsage = `Usage: ukbench run CONFIG [flags]

Runs an experiment (configs/*.yaml): for each repeat it boots every target
on a fresh guest, targets interleaved, sweeps each workload against it, and
appends each finished run to DIR/runs.jsonl at once. At the end it writes
the report to DIR/report/. Ctrl-C (SIGTERM, a hangup) stops every VM and
keeps what finished, a second Ctrl-C quits at once; --resume continues.
`

func runExperiment(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", experimentUsage, stderr)
	out := fs.String("o", "", "result directory (default: the config's output, else ukbench-results/NAME)")
	resume := fs.Bool("resume", false, "continue the campaign in the result directory: skip finished runs")
	dry := fs.Bool("dry-run", false, "print the plan, the accelerator and why, and the QEMU command lines; run no campaign")
	failFast := fs.Bool("fail-fast", false, "stop at the first failed run")
	quick := fs.Bool("quick", false, "a trimmed campaign: one repeat, the first two rates, 1 s steps (a smoke test)")
	timerProbe := fs.Duration("timer-probe", loadgen.DefaultTimerProbe, "probe the host's timer wake-up delay on the generator's CPUs for this long before the runs (0: no probe)")
	accel := fs.String("accel", "", "accelerator: auto, kvm or tcg (default: $UKBENCH_ACCEL, else the config's vm.accel, else auto: KVM only if it runs the probe guest)")
	args, err := parseFlags(fs, args, stdout)
	switch {
	case err != nil:
		return err
	case *timerProbe < 0:
		return usageError("run: --timer-probe %v: want 0 (none) or a duration", *timerProbe)
	case len(args) == 0:
		fmt.Fprint(stderr, experimentUsage)
		return usageError("run: no config given")
	case len(args) > 1:
		return usageError("run: unexpected argument %q", args[1])
	}
	cfg, data, err := experiment.Load(args[0])
	if err != nil {
		if errors.Is(err, yamlstrict.ErrConfig) {
			return usage(err)
		}
		return err
	}
	if *quick {
		cfg.Trim()
	}
	if *out == "" {
		*out = cfg.Output
	}
	req := vm.WantedAccel(*accel, cfg.VM.Accel)
	if err := req.Validate(); err != nil {
		return usageError("run: %v", err)
	}
	if *dry {
		return printPlan(ctx, stdout, cfg, *out, req)
	}
	opts := experiment.Options{OutDir: *out, Resume: *resume, FailFast: *failFast, ConfigFile: args[0],
		ConfigData: data, Version: version(), Accel: *accel, Log: stderr, TimerProbe: *timerProbe}
	if *timerProbe == 0 {
		opts.TimerProbe = -1 // none
	}
	p := newProgress(stdout, stderr)
	opts.Events = p.event
	sum, err := experiment.Run(ctx, cfg, opts)
	p.live.clear()
	if sum.Planned > 0 { // the campaign began: say what it did and where it is
		fmt.Fprintf(stdout, "\n%d runs done (%d failed), %d skipped, of %d planned, in %v; accel %s\n",
			sum.Done, sum.Failed, sum.Skipped, sum.Planned, sum.Duration.Round(time.Second), sum.Accel)
		fmt.Fprintf(stdout, "results: %s\n", filepath.Join(sum.OutDir, "runs.jsonl"))
		if sum.Report != "" {
			fmt.Fprintf(stdout, "report:  %s\n", sum.Report)
		}
	}
	for _, f := range sum.Failures {
		fmt.Fprintf(stderr, "failed: %s\n", f)
	}
	if errors.Is(err, experiment.ErrResultsExist) || errors.Is(err, experiment.ErrConfigChanged) || errors.Is(err, experiment.ErrAccelChanged) {
		return usage(err)
	}
	if errors.Is(err, experiment.ErrInterrupted) {
		var sc stopCause
		if errors.As(context.Cause(ctx), &sc) {
			err = fmt.Errorf("%w by %s", err, unix.SignalName(sc.sig))
		}
		return fmt.Errorf("%w: finished runs are kept; continue with: ukbench run %s -o %s --resume", err, args[0], sum.OutDir)
	}
	return err
}

// printPlan prints every run in order and each target's command line.
// The accelerator is resolved as the campaign would (auto probes KVM when no
// verdict is cached: a 512-byte guest, at most 10 s) and said with its reason.
func printPlan(ctx context.Context, w io.Writer, cfg *experiment.Config, out string, req vm.AccelRequest) error {
	plan := cfg.Plan()
	fmt.Fprintf(w, "experiment %s: %d runs into %s\n", cfg.Name, len(plan), out)
	seen := map[string]bool{}
	for i, pr := range plan {
		fmt.Fprintf(w, "%4d  %-24s %-8s repeat %d  rates %s, %v steps\n", i+1, pr.Key.Target, pr.Key.Workload, pr.Key.Repeat, pr.Workload.Rates, pr.Workload.Step.D())
	}
	fmt.Fprintln(w)
	var accel *vm.AccelChoice
	for _, pr := range plan {
		if pr.Spec.Kind == targets.KindNative || accel != nil {
			continue
		}
		c, err := vm.ResolveShapeAccel(ctx, cfg.VM, req)
		if err != nil {
			return fmt.Errorf("accel %s (%s): %w", req.Accel, req.Source, err)
		}
		accel = &c
		fmt.Fprintf(w, "accel %s: %s\n\n", c.Accel, c.Reason)
	}
	for _, pr := range plan {
		id := pr.Spec.Label() + "/" + pr.Spec.App
		if seen[id] {
			continue
		}
		seen[id] = true
		if pr.Spec.Optional {
			if err := pr.Spec.Available(); err != nil {
				fmt.Fprintf(w, "%s (%s %s): skipped: %v\n\n", pr.Spec.Label(), pr.Spec.Kind, pr.Spec.App, err)
				continue
			}
		}
		argv, err := targets.CommandLine(ctx, pr.Spec, targets.BootOptions{WorkDir: filepath.Join(out, experiment.ConsoleDir), RunID: pr.Key.ID(), Accel: accel, Campaign: cfg.Name})
		if err != nil {
			return fmt.Errorf("%s: %w", pr.Spec.Label(), err)
		}
		fmt.Fprintf(w, "%s (%s %s):\n  %s\n\n", pr.Spec.Label(), pr.Spec.Kind, pr.Spec.App, shellQuote(argv))
	}
	return nil
}

func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\,;&|<>*?()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// progress shows a campaign: its finished lines and steps on stdout, and
// the running step on the live line (on stderr, when a terminal).
type progress struct {
	out   io.Writer
	live  *liveLine
	start time.Time
	table *report.StepTable
}

func newProgress(stdout, stderr io.Writer) *progress {
	return &progress{out: stdout, live: newLiveLine(stderr, false), start: time.Now()}
}

func (p *progress) eta(e experiment.Event) string {
	doneRuns := e.Index - 1
	if doneRuns <= 0 {
		return "ETA –"
	}
	per := time.Since(p.start) / time.Duration(doneRuns)
	return "ETA " + (per * time.Duration(e.Total-doneRuns)).Round(time.Second).String()
}

func (p *progress) event(e experiment.Event) {
	switch e.Kind {
	case experiment.Note:
		p.live.clear()
		fmt.Fprintln(p.out, e.Msg)
	case experiment.RunStarted:
		p.live.clear()
		fmt.Fprintf(p.out, "\n[%d/%d] %s %s, repeat %d (%s)\n", e.Index, e.Total, e.Key.Target, e.Key.Workload, e.Key.Repeat, p.eta(e))
	case experiment.Booted:
		in := e.Instance
		if in.Accel != results.AccelNone {
			fmt.Fprintf(p.out, "  booted (%s): qemu %.0f ms, console ready %.0f ms, first answer %.0f ms; serving at %s\n",
				in.Accel, in.Boot.QEMUStartMS, in.Boot.ConsoleReadyMS, in.Boot.FirstAnswerMS, in.Addr)
		} else {
			fmt.Fprintf(p.out, "  started natively: ready %.0f ms, first answer %.0f ms; serving at %s\n", in.Boot.ConsoleReadyMS, in.Boot.FirstAnswerMS, in.Addr)
		}
		p.table = report.NewStepTable(p.out)
	case experiment.StepProgress:
		p.live.step(fmt.Sprintf("[%d/%d] %s %s #%d  ", e.Index, e.Total, e.Key.Target, e.Key.Workload, e.Key.Repeat), e.Live, "  "+p.eta(e))
	case experiment.StepDone:
		p.live.clear()
		if p.table != nil {
			p.table.Row(*e.Step)
		}
	case experiment.RunDone:
		p.live.clear()
		if e.Run.Error != "" {
			fmt.Fprintf(p.out, "  run failed: %s\n", e.Run.Error)
		} else {
			fmt.Fprintf(p.out, "  %s\n", maxLine(*e.Run))
		}
	}
}
