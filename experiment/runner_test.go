package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ukbench/ukbench/internal/cpuset"
	"github.com/ukbench/ukbench/results"
)

const nativeConfig = `name: resume
repeats: 3
targets:
  - name: a
    kind: native
  - name: b
    kind: native
workloads:
  - kind: dns
    rates: "300"
    step: 300ms
    warmup: 100ms
`

// pinnedCPUs are the CPUs the campaign's generator ran on: its placement's
// load CPUs, or all of this process's when it was not pinned.
func pinnedCPUs(t *testing.T, man Manifest) []int {
	t.Helper()
	if cpus := man.Provenance.Placement.LoadCPUs; len(cpus) > 0 {
		return cpus
	}
	cpus, err := cpuset.Current()
	if err != nil {
		t.Fatal(err)
	}
	return cpus
}

func loadConfig(t *testing.T, body string) (*Config, []byte) {
	t.Helper()
	c, data, err := Load(writeConfig(t, body))
	if err != nil {
		t.Fatal(err)
	}
	return c, data
}

func runKeys(t *testing.T, path string) []string {
	t.Helper()
	runs, err := results.ReadRuns(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range runs {
		keys = append(keys, RunKey{r.Target, r.Workload, r.Repeat}.String())
		if r.Error != "" {
			t.Errorf("%s failed: %s", r.Target, r.Error)
		}
	}
	return keys
}

// TestInterruptAndResume: a campaign cut short keeps its finished runs;
// --resume does the rest, and runs.jsonl ends with every run exactly once.
func TestInterruptAndResume(t *testing.T) {
	cfg, data := loadConfig(t, nativeConfig)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := Options{OutDir: out, ConfigData: data, Binary: testBinary, NoReport: true}
	finished := 0
	opts.Events = func(e Event) {
		if e.Kind == RunDone {
			finished++
		}
		// Interrupt the third run once its target is up.
		if e.Kind == Booted && finished == 2 {
			cancel()
		}
	}
	sum, err := Run(ctx, cfg, opts)
	if !errors.Is(err, ErrInterrupted) || sum.Done != 2 {
		t.Fatalf("first session: %+v, %v; want 2 runs and ErrInterrupted", sum, err)
	}
	if keys := runKeys(t, filepath.Join(out, results.RunsFile)); len(keys) != 2 {
		t.Fatalf("runs.jsonl after the interrupt: %q", keys)
	}
	if _, err := os.Stat(filepath.Join(out, InterruptedFile)); err != nil {
		t.Errorf("the interrupted run was not kept: %v", err)
	}

	if _, err := Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary, NoReport: true}); !errors.Is(err, ErrResultsExist) {
		t.Errorf("a second run without --resume: %v, want ErrResultsExist", err)
	}
	other := *cfg
	other.Repeats = 4
	if _, err := Run(context.Background(), &other, Options{OutDir: out, ConfigData: data, Resume: true, Binary: testBinary, NoReport: true}); !errors.Is(err, ErrConfigChanged) {
		t.Errorf("resume with another config: %v, want ErrConfigChanged", err)
	}

	opts = Options{OutDir: out, ConfigData: data, Resume: true, Binary: testBinary}
	sum, err = Run(context.Background(), cfg, opts)
	if err != nil || sum.Done != 4 || sum.Skipped != 2 {
		t.Fatalf("resumed session: %+v, %v; want 4 done, 2 skipped", sum, err)
	}
	keys := runKeys(t, filepath.Join(out, results.RunsFile))
	seen := map[string]int{}
	for _, k := range keys {
		seen[k]++
	}
	if len(keys) != 6 || len(seen) != 6 {
		t.Errorf("runs.jsonl = %q, want 6 distinct runs", keys)
	}
	var man Manifest
	b, _ := os.ReadFile(filepath.Join(out, results.ManifestFile))
	if err := json.Unmarshal(b, &man); err != nil || len(man.Sessions) != 2 || man.Ended.IsZero() {
		t.Errorf("manifest: %v, sessions %v, ended %v", err, man.Sessions, man.Ended)
	}
	// The host's timers were probed on the generator's CPUs, and the
	// figures kept in the manifest and in each run of the session.
	if n := man.Provenance.TimerNoise; n == nil || n.Wakeups == 0 || len(n.CPUs) == 0 || !slices.Equal(n.CPUs, pinnedCPUs(t, man)) {
		t.Errorf("manifest timer_noise %+v, want a probe of the generator's CPUs %v", n, man.Provenance.Placement.LoadCPUs)
	}
	runs, _ := results.ReadRuns(filepath.Join(out, results.RunsFile))
	for _, r := range runs[2:] {
		if r.TimerNoise == nil || r.TimerNoise.Wakeups != man.Provenance.TimerNoise.Wakeups {
			t.Errorf("run %s-%d: timer_noise %+v, want the session's probe", r.Target, r.Repeat, r.TimerNoise)
		}
	}
	if _, err := os.Stat(filepath.Join(out, ReportDir, "report.md")); err != nil {
		t.Errorf("no report at the end: %v", err)
	}
}

const faultConfig = `name: fault
repeats: 1
vm:
  memory_mib: 384
targets:
  - name: linux
    kind: linux
  - name: native
    kind: native
workloads:
  - kind: dns
    rates: 200,300
    step: 3s
    warmup: 500ms
`

// TestGuestKilledMidStep: the QEMU of one target dies during a step; that
// run is recorded with its finished steps and the error, the other target
// still runs, and no QEMU process is left.
func TestGuestKilledMidStep(t *testing.T) {
	needQEMU(t)
	cfg, data := loadConfig(t, faultConfig)
	out := t.TempDir()
	var qemuPID int
	opts := Options{OutDir: out, ConfigData: data, Binary: testBinary, NoReport: true}
	opts.Events = func(e Event) {
		if e.Kind == Booted && e.Key.Target == "linux" {
			qemuPID = e.Instance.PID()
		}
		// Kill it one second into the second step.
		if e.Kind == StepProgress && e.Key.Target == "linux" && e.Live.Offered == 300 && e.Live.Elapsed.Seconds() > 1 && qemuPID != 0 {
			syscall.Kill(qemuPID, syscall.SIGKILL)
		}
	}
	sum, err := Run(context.Background(), cfg, opts)
	if !errors.Is(err, ErrRunsFailed) {
		t.Fatalf("err = %v, want ErrRunsFailed", err)
	}
	if qemuPID == 0 {
		t.Fatal("the linux guest never booted")
	}
	if syscall.Kill(qemuPID, 0) == nil {
		t.Errorf("QEMU %d still exists", qemuPID)
	}
	runs, err := results.ReadRuns(filepath.Join(out, results.RunsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || sum.Failed != 1 {
		t.Fatalf("runs = %d, failed %d; want 2 runs, 1 failed", len(runs), sum.Failed)
	}
	for _, r := range runs {
		switch r.Target {
		case "linux":
			if !strings.Contains(r.Error, "guest exited") || len(r.Steps) != 1 || r.Boot == nil || r.ConsoleLog == "" {
				t.Errorf("linux run: error %q, %d steps, boot %v, console %q; want the guest's exit, the first step kept", r.Error, len(r.Steps), r.Boot, r.ConsoleLog)
			}
		case "native":
			if r.Error != "" || len(r.Steps) != 2 {
				t.Errorf("native run: error %q, %d steps", r.Error, len(r.Steps))
			}
		}
	}
}
