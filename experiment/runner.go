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
	"slices"
	"time"

	"github.com/ukbench/ukbench/internal/cpuset"
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
	// ErrAccelChanged: --resume would run under another accelerator than
	// the campaign's runs so far (mixing KVM and TCG repeats).
	ErrAccelChanged = errors.New("accelerator changed since the campaign started")
	ErrInterrupted  = errors.New("campaign interrupted")
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
	ConfigData []byte // the file's bytes: their digest goes in the manifest (--resume checks the effective plan: plansha.go)
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
	// TimerProbe is how long the host's timers are probed on the
	// generator's CPUs before the runs (loadgen.TimerProbe): 0 for
	// loadgen.DefaultTimerProbe, below 0 for no probe.
	TimerProbe time.Duration
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
//
// Its phases, in order: the accelerator is settled (before anything is
// written); the result directory is opened (a new campaign, or --resume's
// checks against the old manifest) and the manifest made; the plan is cut
// down to the runs to do now (finished ones and missing optional targets
// skipped) and the manifest written; the generator is pinned to its CPUs
// and the host's timers probed there (the manifest and every run record
// keep what the probe found); the runs are done one by one; the campaign's failures are counted and the
// manifest ended; and the report is written from runs.jsonl.
func Run(ctx context.Context, cfg *Config, o Options) (Summary, error) {
	c := newCampaign(cfg, o)
	// The accelerator.
	if err := c.settleAccel(ctx); err != nil {
		return c.sum, err
	}
	// Resume and the manifest.
	done, err := c.openResults()
	if err != nil {
		return c.sum, err
	}
	// The plan and its skips.
	plan := cfg.Plan()
	todo := c.runsToDo(plan, done)
	if err := writeManifest(c.manPath, c.man); err != nil {
		return c.sum, err
	}
	// Placement: the generator on its CPUs (the targets go to theirs as
	// each boots).
	restore, err := cpuset.PinProcess(c.pl.LoadCPUs)
	if err != nil {
		return c.sum, err
	}
	defer restore()
	// The host's timer noise, where the generator runs.
	if err := c.probeTimers(ctx); err != nil {
		return c.sum, err
	}
	// The loop.
	notRun, runErr := c.runAll(ctx, todo)
	// The end: every session's runs, their failures, the manifest's end.
	runs, warns, readErr := results.ReadRunsWarn(c.runsPath)
	for _, w := range warns { // a record this session could not write, nor cut back
		c.emit(Event{Kind: Note, Msg: w.String()})
	}
	if readErr != nil {
		runs = c.session // no runs at all, or the file went bad: what this session did
	}
	runErr = c.end(plan, runs, runErr, notRun)
	// The report.
	if !o.NoReport && readErr == nil && len(runs) > 0 {
		if err := c.writeReport(runs); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	c.sum.Duration = time.Since(c.start)
	return c.sum, runErr
}

// campaign is one session of a campaign, phase by phase (see Run).
type campaign struct {
	cfg               *Config
	o                 Options
	start             time.Time
	out               string // the result directory
	runsPath, manPath string
	configSHA         string // of o.ConfigData, for the manifest
	planSHA           string // of the effective plan (plansha.go): --resume's guard
	accel             vm.AccelChoice
	timerNoise        *results.TimerNoise // the probe's, or nil
	pl                Placement
	man               *Manifest
	session           []results.Run // the runs appended now
	sum               Summary
}

func newCampaign(cfg *Config, o Options) *campaign {
	out := o.OutDir
	if out == "" {
		out = cfg.Output
	}
	sha := sha256.Sum256(o.ConfigData)
	return &campaign{cfg: cfg, o: o, start: time.Now(), out: out,
		runsPath: filepath.Join(out, results.RunsFile), manPath: filepath.Join(out, results.ManifestFile),
		configSHA: hex.EncodeToString(sha[:]), sum: Summary{OutDir: out}}
}

func (c *campaign) emit(e Event) {
	if c.o.Events != nil {
		c.o.Events(e)
	}
}

// settleAccel settles the accelerator once for the campaign, before
// anything is written: an explicit kvm that cannot run guests stops the
// campaign here, with the reason. Native targets alone need none.
func (c *campaign) settleAccel(ctx context.Context) error {
	req := vm.WantedAccel(c.o.Accel, c.cfg.VM.Accel)
	if err := req.Validate(); err != nil {
		return err
	}
	c.accel = vm.AccelChoice{Accel: results.AccelNone, Wanted: req.Accel, WantedBy: req.Source, Reason: "native targets only"}
	for _, t := range c.cfg.Targets {
		if t.Kind != targets.KindNative {
			a, err := vm.ResolveShapeAccel(ctx, c.cfg.VM, req)
			if err != nil {
				return fmt.Errorf("accel %s (%s): %w", req.Accel, req.Source, err)
			}
			c.accel = a
			if n := a.Notice(); n != "" {
				c.emit(Event{Kind: Note, Msg: n})
			}
			break
		}
	}
	c.sum.Accel, c.sum.AccelReason = c.accel.Accel, c.accel.Reason
	return nil
}

// agentTimerProbe is how long each agent probes its host's timers as it
// starts: the campaign's probe, made where the load is.
func (r *runner) agentTimerProbe() time.Duration {
	switch {
	case r.o.TimerProbe < 0:
		return 0
	case r.o.TimerProbe == 0:
		return loadgen.DefaultTimerProbe
	}
	return r.o.TimerProbe
}

// recordAgents adds the run's agents (the generator hosts, DESIGN.md rule
// 6) to the manifest's provenance, once each, and writes the manifest when
// one is new. A manifest that cannot be written is noted: the run goes on.
func (r *runner) recordAgents(agents []results.AgentInfo) {
	added := false
	for _, a := range agents {
		if !slices.ContainsFunc(r.man.Provenance.Agents, func(o results.AgentInfo) bool {
			return o.Agent == a.Agent && o.BinarySHA256 == a.BinarySHA256
		}) {
			r.man.Provenance.Agents = append(r.man.Provenance.Agents, a)
			added = true
		}
	}
	if added {
		if err := writeManifest(filepath.Join(r.out, results.ManifestFile), r.man); err != nil {
			r.emit(Event{Kind: Note, Msg: "manifest: " + err.Error()})
		}
	}
}

// probeTimers probes the host's timer wake-up delay on the generator's
// CPUs (the campaign has pinned itself to them) unless told not to, says
// what it found, and records it in the manifest. Only ctx ending the probe
// ends the campaign: a host that cannot be probed is noted.
func (c *campaign) probeTimers(ctx context.Context) error {
	if c.o.TimerProbe < 0 {
		return nil
	}
	if c.cfg.Load.hasAgents() {
		c.emit(Event{Kind: Note, Msg: "host timer probe: on each agent as it starts (the load comes from agents, not this host)"})
		return nil
	}
	noise, err := loadgen.TimerProbe{Duration: c.o.TimerProbe}.Run(ctx)
	switch {
	case ctx.Err() != nil:
		return ErrInterrupted
	case err != nil:
		c.emit(Event{Kind: Note, Msg: "host timer probe: " + err.Error()})
		return nil
	}
	c.timerNoise = &noise
	c.man.Provenance.TimerNoise = c.timerNoise
	c.emit(Event{Kind: Note, Msg: noise.String()})
	return writeManifest(c.manPath, c.man)
}

// openResults opens the result directory: a directory that holds a
// campaign is continued only with --resume and the same effective plan
// (checkPlan). It makes the directories, reads the runs already finished
// (cutting off a torn final record) and sets up the manifest (a new one,
// or the old one with this session's accelerator and start), with the
// generator's placement.
func (c *campaign) openResults() (done map[RunKey]bool, err error) {
	if c.planSHA, err = planSHA(c.cfg); err != nil {
		return nil, err
	}
	old, err := readManifest(c.manPath) // nil unless err is nil
	var planErr error
	if err == nil && c.o.Resume {
		planErr = c.checkPlan(old)
	}
	switch {
	case err == nil && !c.o.Resume:
		return nil, fmt.Errorf("%w: %s (add --resume to continue it, or give another -o)", ErrResultsExist, c.out)
	case planErr != nil:
		return nil, planErr
	case err == nil && old.Provenance.Accel != "" && old.Provenance.Accel != c.accel.Accel:
		was := old.Provenance
		return nil, fmt.Errorf("%w: %s ran under %s (%s); this session would run under %s (%s): use another -o, or --accel %s",
			ErrAccelChanged, c.out, was.Accel, was.AccelReason, c.accel.Accel, c.accel.Reason, was.Accel)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	for _, d := range []string{c.out, filepath.Join(c.out, ConsoleDir), filepath.Join(c.out, HistDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	done, notes, err := finishedRuns(c.runsPath)
	if err != nil {
		return nil, err
	}
	for _, n := range notes {
		c.emit(Event{Kind: Note, Msg: n})
	}
	c.pl = choosePlacement(c.cfg.Placement)
	if old == nil {
		c.man = &Manifest{Config: c.cfg, ConfigFile: c.o.ConfigFile, ConfigSHA: c.configSHA, PlanSHA: c.planSHA, Started: time.Now().UTC(),
			Provenance: hostProvenance(c.o.Version, c.cfg.VM.QEMU, c.accel, c.cfg.VM, c.pl)}
	} else {
		c.man = old
		c.man.PlanSHA = c.planSHA          // the same plan; recorded in an older manifest too
		c.man.Provenance.setAccel(c.accel) // this session's verdict
	}
	c.man.Sessions = append(c.man.Sessions, time.Now().UTC())
	c.man.Ended = time.Time{}
	return done, nil
}

// runsToDo is the plan without the runs runs.jsonl holds and those of
// optional targets that are missing (each named once in a note).
func (c *campaign) runsToDo(plan []PlannedRun, done map[RunKey]bool) []PlannedRun {
	c.man.Planned = len(plan)
	c.sum.Planned = len(plan)
	var todo []PlannedRun
	missing := map[string]bool{}
	for _, pr := range plan {
		if done[pr.Key] {
			c.sum.Skipped++
			continue
		}
		if pr.Spec.Optional {
			if err := pr.Spec.Available(); err != nil {
				if !missing[pr.Spec.Label()] {
					c.emit(Event{Kind: Note, Msg: fmt.Sprintf("skipping optional target %s: %v", pr.Spec.Label(), err)})
				}
				missing[pr.Spec.Label()] = true
				c.sum.Skipped++
				continue
			}
		}
		todo = append(todo, pr)
	}
	return todo
}

// runAll does the runs in order, appending each record as it ends (a run
// cut short by ctx to interrupted.jsonl, and the loop ends there). It
// stops at the first failed run under --fail-fast (notRun: the runs left
// undone) and at a record it could not append.
func (c *campaign) runAll(ctx context.Context, todo []PlannedRun) (notRun int, err error) {
	r := &runner{cfg: c.cfg, o: c.o, out: c.out, accel: c.accel, timerNoise: c.timerNoise, pl: c.pl, man: c.man, emit: c.emit, imaged: map[string]bool{}}
	for i, pr := range todo {
		if ctx.Err() != nil {
			return 0, ErrInterrupted
		}
		c.emit(Event{Kind: RunStarted, Index: i + 1, Total: len(todo), Key: pr.Key})
		rec, interrupted := r.run(ctx, pr, i+1, len(todo))
		if interrupted {
			if err := appendRun(filepath.Join(c.out, InterruptedFile), rec); err != nil {
				return 0, errors.Join(ErrInterrupted, err)
			}
			return 0, ErrInterrupted
		}
		if err := appendRun(c.runsPath, rec); err != nil {
			return 0, err
		}
		c.session = append(c.session, rec)
		c.sum.Done++
		if rec.Error != "" {
			c.sum.Failed++
		}
		c.emit(Event{Kind: RunDone, Index: i + 1, Total: len(todo), Key: pr.Key, Run: &rec})
		if rec.Error != "" && c.o.FailFast {
			return len(todo) - (i + 1), ErrFailFast
		}
	}
	return 0, nil
}

// end counts the plan's failed runs among runs (every session's) into the
// summary, turns them into the campaign's error when the loop ran to its
// end or to --fail-fast's stop, and writes the manifest's end time.
func (c *campaign) end(plan []PlannedRun, runs []results.Run, runErr error, notRun int) error {
	var recorded int
	c.sum.Failures, recorded = failures(plan, runs)
	// A campaign cut short (Ctrl-C, a file that could not be written)
	// says so; one that ran to its end, or to --fail-fast's stop, says
	// what failed.
	if len(c.sum.Failures) > 0 && (runErr == nil || runErr == ErrFailFast) {
		failed := 0
		for _, f := range c.sum.Failures {
			failed += f.Failed
		}
		failedErr := fmt.Errorf("%d of %d %w", failed, recorded, ErrRunsFailed)
		if runErr == ErrFailFast {
			failedErr = fmt.Errorf("%w: %w, %d not run", ErrFailFast, failedErr, notRun)
		}
		runErr = failedErr
	}
	c.man.Ended = time.Now().UTC()
	if err := writeManifest(c.manPath, c.man); err != nil {
		runErr = errors.Join(runErr, err)
	}
	return runErr
}

// writeReport writes the report of runs (runs.jsonl as it stands, earlier
// sessions' runs too) into the result directory, as `ukbench report DIR`
// would. It is the campaign's last phase, after runs.jsonl is final for
// this session, so that a campaign, failed or cut short, leaves its report
// behind: see Options.NoReport.
func (c *campaign) writeReport(runs []results.Run) error {
	dir := filepath.Join(c.out, ReportDir)
	w, err := report.Write(dir, []report.Source{{Label: c.out, Runs: runs, Dir: c.out}}, []string{"png", "svg"})
	for _, warn := range w.Warnings {
		c.emit(Event{Kind: Note, Msg: "report: " + warn.String()})
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	c.sum.Report = filepath.Join(dir, "report.md")
	return nil
}

// runner holds what every run of one campaign shares.
type runner struct {
	cfg   *Config
	o     Options
	out   string
	accel vm.AccelChoice
	// timerNoise is the campaign's timer probe, or nil.
	timerNoise *results.TimerNoise
	pl         Placement
	man        *Manifest
	emit       func(Event)
	imaged     map[string]bool // targets whose files are in the manifest
}

// run boots the target, sweeps the workload and returns the record; it
// says whether ctx cut the run short. Its phases: the record is begun, the
// target booted (boot figures, memory, console log, the files it booted
// into the manifest), the generator and sweep set up, the sweep run while
// the guest is watched, and the target stopped.
func (r *runner) run(ctx context.Context, pr PlannedRun, idx, total int) (rec results.Run, interrupted bool) {
	rec, spec := r.begin(pr)
	defer func() { rec.Ended = time.Now().UTC() }()
	inst, err := r.boot(ctx, pr.Key, spec, &rec)
	if err != nil {
		rec.Error = "boot: " + err.Error()
		return rec, ctx.Err() != nil
	}
	defer inst.Stop(context.Background())
	r.emit(Event{Kind: Booted, Index: idx, Total: total, Key: pr.Key, Instance: inst})

	gen, err := newGenerator(pr.Workload, inst.Addr)
	if err != nil {
		rec.Error = "load: " + err.Error()
		return rec, false
	}
	gen, closeAgents, err := withAgents(ctx, r.cfg.Load, pr.Workload, inst.Addr, r.agentTimerProbe(), gen)
	if err != nil {
		rec.Error = "load: agents: " + err.Error()
		return rec, false
	}
	r.recordAgents(gen.Describe().Agents)
	defer closeAgents()
	sc, err := sweepConfig(pr.Workload)
	if err != nil {
		rec.Error = "load: " + err.Error()
		return rec, false
	}
	guestExited, histErr, err := r.sweep(ctx, pr.Key, inst, gen, sc, &rec, idx, total)
	switch {
	case guestExited:
		rec.Error = fmt.Sprintf("guest exited during the sweep after %d steps: %v (console: %s)", len(rec.Steps), inst.ExitReason(), rec.ConsoleLog)
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

// begin starts the run's record and settles the target's spec: the
// campaign's accelerator (none for a native target) and, unless the target
// names its own, the campaign's target CPUs.
func (r *runner) begin(pr PlannedRun) (results.Run, targets.Spec) {
	key := pr.Key
	rec := results.Run{Target: key.Target, Workload: key.Workload, Repeat: key.Repeat, Accel: r.accel.Accel,
		AccelReason: r.accel.Reason, TimerNoise: r.timerNoise, Started: time.Now().UTC(), Steps: []results.Step{}}
	spec := pr.Spec
	if spec.Kind == targets.KindNative {
		rec.Accel, rec.AccelReason = results.AccelNone, ""
	}
	if len(spec.HostCPUs) == 0 {
		spec.HostCPUs = r.pl.TargetCPUs
	}
	return rec, spec
}

// boot boots the target into the record: its console log (kept when the
// boot got far enough to write one, failed or not), its accelerator, boot
// figures and memory, and its files in the manifest.
func (r *runner) boot(ctx context.Context, key RunKey, spec targets.Spec, rec *results.Run) (*targets.Instance, error) {
	bo := targets.BootOptions{WorkDir: filepath.Join(r.out, ConsoleDir), RunID: key.ID(),
		Binary: r.o.Binary, CacheDir: r.o.CacheDir, Timeout: r.cfg.BootTimeout.D(), Log: r.o.Log, Accel: &r.accel, Campaign: r.cfg.Name}
	inst, err := targets.Boot(ctx, spec, bo)
	rec.ConsoleLog = r.written(bo.ConsolePath())
	if err != nil {
		return nil, err
	}
	r.recordFiles(inst)
	rec.Accel, rec.AccelReason = inst.Accel, inst.AccelReason
	rec.Boot = inst.Boot
	if mem, err := inst.Memory(); err == nil {
		rec.Memory = mem
	}
	return inst, nil
}

// written is path relative to the result directory when the file is there
// (a boot that fails before QEMU or the server starts writes no console
// log), else "".
func (r *runner) written(path string) string {
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	rel, err := filepath.Rel(r.out, path)
	if err != nil {
		return ""
	}
	return rel
}

// sweep runs the sweep into the record (loadgen.RecordSweep), its steps'
// histograms under hist/, and QEMU's memory after it. A guest that dies
// mid-sweep ends the sweep at once (guestExited).
func (r *runner) sweep(ctx context.Context, key RunKey, inst *targets.Instance, gen loadgen.Generator, sc loadgen.SweepConfig, rec *results.Run, idx, total int) (guestExited bool, histErr, err error) {
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
	histErr, err = loadgen.RecordSweep(sctx, gen, sc, filepath.Join(r.out, histRel), rec)
	if mem, merr := inst.Memory(); merr == nil && rec.Memory != nil {
		rec.Memory.QEMURSSAfterKiB = mem.QEMURSSKiB
		rec.Memory.QEMUHWMKiB = mem.QEMUHWMKiB
	}
	return errors.Is(context.Cause(sctx), errGuestExited), histErr, err
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
		info.Version, info.Config, info.Boot = f.Version, f.Config, f.Boot
		r.man.Provenance.Images = append(r.man.Provenance.Images, info)
	}
}
