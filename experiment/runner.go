package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/report"
	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/targets"
	"github.com/ukbench/ukbench/vm"
)

// Sentinel errors of a campaign.
var (
	ErrResultsExist  = errors.New("result directory already holds runs")
	ErrConfigChanged = errors.New("config changed since the campaign started")
	ErrInterrupted   = errors.New("campaign interrupted")
	// ErrRunsFailed: runs of the plan ended with an error. Their records
	// are kept in runs.jsonl and the report is written; Summary.Failures
	// says which.
	ErrRunsFailed = errors.New("runs failed")
	// ErrFailFast: --fail-fast stopped the campaign at a failed run (the
	// error wraps ErrRunsFailed too).
	ErrFailFast    = errors.New("stopped at the first failed run (--fail-fast)")
	errGuestExited = errors.New("guest exited")
)

// Options are a campaign's settings that are not in the config.
type Options struct {
	OutDir     string // default: the config's output
	Resume     bool   // continue a campaign: skip the runs runs.jsonl holds
	FailFast   bool   // stop at the first failed run
	ConfigFile string // for the manifest
	ConfigData []byte // the file's bytes: their digest guards --resume
	Version    string // ukbench's version, for the provenance
	// Accel is the --accel flag (auto, kvm or tcg): it overrides
	// $UKBENCH_ACCEL, which overrides the config's vm.accel.
	Accel string
	// Binary is the ukbench (static or dynamically linked) put in Linux
	// guests and run natively (default: the running executable).
	Binary   string
	CacheDir string
	// Events, if set, is told what happens (from the campaign's goroutine).
	Events func(Event)
	// Log receives notes (image builds, skipped targets); may be nil.
	Log io.Writer
	// NoReport skips writing the report at the end.
	NoReport bool
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds, in the order a run produces them.
const (
	RunStarted EventKind = iota
	Booted
	StepProgress
	StepDone
	RunDone
	Note
)

// Event is one thing that happened in a campaign.
type Event struct {
	Kind     EventKind
	Index    int // 1-based position of the run among the runs to do now
	Total    int
	Key      RunKey
	Instance *targets.Instance // Booted
	Live     loadgen.Live      // StepProgress
	Step     *results.Step     // StepDone
	Run      *results.Run      // RunDone
	Msg      string            // Note
}

// Summary is what a campaign did.
type Summary struct {
	OutDir  string
	Report  string // report.md, when written
	Planned int    // runs in the plan
	Skipped int    // already in runs.jsonl (--resume) or optional targets missing
	Done    int    // finished now (appended to runs.jsonl)
	Failed  int    // of Done, with an error
	Accel   string // kvm, tcg, or none when every target is native
	// AccelReason says why Accel was chosen (the KVM probe's verdict).
	AccelReason string
	Duration    time.Duration
	// Failures are the targets' workloads with failed runs among all the
	// plan's runs in runs.jsonl (earlier sessions' too), in plan order.
	Failures []Failure
}

// Run carries out the campaign. Every finished run is appended to
// runs.jsonl (and synced) as it ends; a run cut short by ctx goes to
// interrupted.jsonl and is redone by --resume. It returns ErrInterrupted
// when ctx ended it, else ErrRunsFailed (wrapped, after writing the
// report) when runs of the plan ended with an error.
func Run(ctx context.Context, cfg *Config, o Options) (Summary, error) {
	start := time.Now()
	out := o.OutDir
	if out == "" {
		out = cfg.Output
	}
	sum := Summary{OutDir: out}
	runsPath := filepath.Join(out, results.RunsFile)
	manPath := filepath.Join(out, results.ManifestFile)
	cfgSHA := sha256.Sum256(o.ConfigData)
	sha := hex.EncodeToString(cfgSHA[:])

	emit := func(e Event) {
		if o.Events != nil {
			o.Events(e)
		}
	}
	// The accelerator is settled before anything is written: an explicit
	// kvm that cannot run guests stops the campaign here, with the reason.
	accel := vm.AccelChoice{Accel: "none", Reason: "native targets only"}
	for _, t := range cfg.Targets {
		if t.Kind != targets.KindNative {
			c, err := vm.ResolveAccel(ctx, cfg.VM.QEMU, vm.WantedAccel(o.Accel, cfg.VM.Accel))
			if err != nil {
				return sum, fmt.Errorf("vm.accel: %w", err)
			}
			accel = c
			if n := c.Notice(); n != "" {
				emit(Event{Kind: Note, Msg: n})
			}
			break
		}
	}
	sum.Accel, sum.AccelReason = accel.Accel, accel.Reason

	var man *Manifest
	if old, err := readManifest(manPath); err == nil {
		if !o.Resume {
			return sum, fmt.Errorf("%w: %s (add --resume to continue it, or give another -o)", ErrResultsExist, out)
		}
		if old.ConfigSHA != sha {
			return sum, fmt.Errorf("%w: %s was started from a config with sha256 %s, this one is %s (use another -o)", ErrConfigChanged, out, old.ConfigSHA[:12], sha[:12])
		}
		man = old
	} else if !errors.Is(err, os.ErrNotExist) {
		return sum, err
	}
	for _, d := range []string{out, filepath.Join(out, ConsoleDir), filepath.Join(out, HistDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return sum, err
		}
	}
	done, err := finishedRuns(runsPath)
	if err != nil {
		return sum, err
	}

	pl := choosePlacement(cfg.Placement)
	if man == nil {
		man = &Manifest{Config: cfg, ConfigFile: o.ConfigFile, ConfigSHA: sha, Started: time.Now().UTC(),
			Provenance: hostProvenance(o.Version, cfg.VM.QEMU, accel, cfg.VM, pl)}
	} else {
		man.Provenance.setAccel(accel) // this session's verdict
	}
	man.Sessions = append(man.Sessions, time.Now().UTC())
	man.Ended = time.Time{}

	plan := cfg.Plan()
	man.Planned = len(plan)
	sum.Planned = len(plan)
	var todo []PlannedRun
	missing := map[string]bool{}
	for _, pr := range plan {
		if done[pr.Key] {
			sum.Skipped++
			continue
		}
		if pr.Spec.Optional {
			if err := pr.Spec.Available(); err != nil {
				if !missing[pr.Spec.Label()] {
					emit(Event{Kind: Note, Msg: fmt.Sprintf("skipping optional target %s: %v", pr.Spec.Label(), err)})
				}
				missing[pr.Spec.Label()] = true
				sum.Skipped++
				continue
			}
		}
		todo = append(todo, pr)
	}
	if err := writeManifest(manPath, man); err != nil {
		return sum, err
	}

	restore, err := pinSelf(pl.LoadCPUs)
	if err != nil {
		return sum, err
	}
	defer restore()

	r := &runner{cfg: cfg, o: o, out: out, accel: accel, pl: pl, man: man, emit: emit, imaged: map[string]bool{}}
	var runErr error
	var session []results.Run // the runs appended now
	notRun := 0               // runs --fail-fast left undone
	for i, pr := range todo {
		if ctx.Err() != nil {
			runErr = ErrInterrupted
			break
		}
		emit(Event{Kind: RunStarted, Index: i + 1, Total: len(todo), Key: pr.Key})
		rec, interrupted := r.run(ctx, pr, i+1, len(todo))
		if interrupted {
			if err := appendRun(filepath.Join(out, InterruptedFile), rec); err != nil {
				runErr = errors.Join(ErrInterrupted, err)
			} else {
				runErr = ErrInterrupted
			}
			break
		}
		if err := appendRun(runsPath, rec); err != nil {
			runErr = err
			break
		}
		session = append(session, rec)
		sum.Done++
		if rec.Error != "" {
			sum.Failed++
		}
		emit(Event{Kind: RunDone, Index: i + 1, Total: len(todo), Key: pr.Key, Run: &rec})
		if rec.Error != "" && o.FailFast {
			notRun = len(todo) - (i + 1)
			runErr = ErrFailFast
			break
		}
	}
	runs, readErr := results.ReadRuns(runsPath)
	if readErr != nil {
		runs = session // no runs at all, or the file went bad: what this session did
	}
	var recorded int
	sum.Failures, recorded = failures(plan, runs)
	// A campaign cut short (Ctrl-C, a file that could not be written)
	// says so; one that ran to its end, or to --fail-fast's stop, says
	// what failed.
	if len(sum.Failures) > 0 && (runErr == nil || runErr == ErrFailFast) {
		failed := 0
		for _, f := range sum.Failures {
			failed += f.Failed
		}
		failedErr := fmt.Errorf("%d of %d %w", failed, recorded, ErrRunsFailed)
		if runErr == ErrFailFast {
			failedErr = fmt.Errorf("%w: %w, %d not run", ErrFailFast, failedErr, notRun)
		}
		runErr = failedErr
	}
	man.Ended = time.Now().UTC()
	if err := writeManifest(manPath, man); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if !o.NoReport {
		if readErr == nil && len(runs) > 0 {
			dir := filepath.Join(out, ReportDir)
			if _, err := report.Write(dir, []report.Source{{Label: out, Runs: runs, Dir: out}}, []string{"png", "svg"}); err != nil {
				runErr = errors.Join(runErr, fmt.Errorf("report: %w", err))
			} else {
				sum.Report = filepath.Join(dir, "report.md")
			}
		}
	}
	sum.Duration = time.Since(start)
	return sum, runErr
}

// runner holds what every run of one campaign shares.
type runner struct {
	cfg    *Config
	o      Options
	out    string
	accel  vm.AccelChoice
	pl     Placement
	man    *Manifest
	emit   func(Event)
	imaged map[string]bool // targets whose files are in the manifest
}

// run boots the target, sweeps the workload and returns the record; it
// says whether ctx cut the run short.
func (r *runner) run(ctx context.Context, pr PlannedRun, idx, total int) (rec results.Run, interrupted bool) {
	key := pr.Key
	rec = results.Run{Target: key.Target, Workload: key.Workload, Repeat: key.Repeat, Accel: r.accel.Accel,
		AccelReason: r.accel.Reason, Started: time.Now().UTC(), Steps: []results.Step{}}
	spec := pr.Spec
	if spec.Kind == targets.KindNative {
		rec.Accel, rec.AccelReason = "none", ""
	} else {
		spec.VM.Accel = r.accel.Accel // settled once for the campaign
	}
	defer func() { rec.Ended = time.Now().UTC() }()
	if len(spec.HostCPUs) == 0 {
		spec.HostCPUs = r.pl.TargetCPUs
	}
	consoleRel := filepath.Join(ConsoleDir, key.ID()+".log")
	inst, err := targets.Boot(ctx, spec, targets.BootOptions{WorkDir: filepath.Join(r.out, ConsoleDir), RunID: key.ID(),
		Binary: r.o.Binary, CacheDir: r.o.CacheDir, Timeout: r.cfg.BootTimeout.D(), Log: r.o.Log})
	if _, statErr := os.Stat(filepath.Join(r.out, consoleRel)); statErr == nil {
		rec.ConsoleLog = consoleRel
	}
	if err != nil {
		rec.Error = "boot: " + err.Error()
		return rec, ctx.Err() != nil
	}
	defer inst.Stop(context.Background())
	r.recordFiles(inst)
	rec.Accel = inst.Accel // the campaign's choice; its reason is the campaign's too
	rec.Boot = inst.Boot
	if mem, err := inst.Memory(); err == nil {
		rec.Memory = mem
	}
	r.emit(Event{Kind: Booted, Index: idx, Total: total, Key: key, Instance: inst})

	gen, err := newGenerator(pr.Workload, inst.Addr)
	if err != nil {
		rec.Error = "load: " + err.Error()
		return rec, false
	}
	sc, err := sweepConfig(pr.Workload)
	if err != nil {
		rec.Error = "load: " + err.Error()
		return rec, false
	}

	// A guest that dies mid-sweep ends the sweep at once, with that cause.
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-inst.Exited():
			cancel(errGuestExited)
		case <-sctx.Done():
		}
	}()
	histRel := filepath.Join(HistDir, key.ID())
	sc.Progress = func(l loadgen.Live) { r.emit(Event{Kind: StepProgress, Index: idx, Total: total, Key: key, Live: l}) }
	sc.OnStep = func(so loadgen.StepOutcome) {
		rec.Hist = histRel
		st := so.Step
		r.emit(Event{Kind: StepDone, Index: idx, Total: total, Key: key, Step: &st})
	}
	histErr, err := loadgen.RecordSweep(sctx, gen, sc, filepath.Join(r.out, histRel), &rec)
	if mem, merr := inst.Memory(); merr == nil && rec.Memory != nil {
		rec.Memory.QEMURSSAfterKiB = mem.QEMURSSKiB
		rec.Memory.QEMUHWMKiB = mem.QEMUHWMKiB
	}
	switch {
	case errors.Is(context.Cause(sctx), errGuestExited):
		rec.Error = fmt.Sprintf("guest exited during the sweep after %d steps (console: %s)", len(rec.Steps), rec.ConsoleLog)
	case err != nil && ctx.Err() != nil:
		rec.Error = "interrupted: " + err.Error()
		return rec, true
	case err != nil:
		rec.Error = "load: " + err.Error()
	case histErr != nil:
		rec.Error = "histograms: " + histErr.Error()
	}
	if err := inst.Stop(context.Background()); err != nil && rec.Error == "" {
		rec.Error = "shutdown: " + err.Error()
	}
	return rec, false
}

// recordFiles adds a target's booted files, with digests, to the manifest
// provenance the first time the target boots each app.
func (r *runner) recordFiles(inst *targets.Instance) {
	label := inst.Spec.Label() + " (" + inst.Spec.App + ")"
	if r.imaged[label] {
		return
	}
	r.imaged[label] = true
	for _, f := range inst.Files {
		info, err := fileInfo(label, f.Role, f.Path)
		if err != nil {
			r.emit(Event{Kind: Note, Msg: fmt.Sprintf("%s: %s %s: %v", label, f.Role, f.Path, err)})
			continue
		}
		r.man.Provenance.Images = append(r.man.Provenance.Images, info)
	}
}
