package experiment

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/vm"
)

// failingConfig is a campaign with a guest target whose QEMU aborts at once
// (testbin.FailingQEMU) and a native target that works.
func failingConfig(t *testing.T) string {
	t.Setenv(vm.EnvAccel, "") // the config's tcg: no KVM probe, whatever the host has
	return testbin.FailingCampaign(t, "  - name: fine\n    kind: native\n")
}

// TestFailedRunsAreReported: a target that never boots fails each of its
// runs; the campaign still runs the rest, keeps every record, writes the
// report naming the error, and returns ErrRunsFailed with a summary per
// failed target.
func TestFailedRunsAreReported(t *testing.T) {
	cfg, data := loadConfig(t, failingConfig(t))
	out := t.TempDir()
	sum, err := Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary})
	if !errors.Is(err, ErrRunsFailed) || errors.Is(err, ErrFailFast) || err.Error() != "2 of 4 runs failed" {
		t.Fatalf("err = %v, want ErrRunsFailed: 2 of 4 runs failed", err)
	}
	if sum.Done != 4 || sum.Failed != 2 || len(sum.Failures) != 1 {
		t.Fatalf("summary %+v", sum)
	}
	f := sum.Failures[0]
	if f.Target != "broken" || f.Workload != "dns" || f.Failed != 2 || f.Runs != 2 || f.First.Repeat != 1 ||
		!strings.Contains(f.Error, "QEMU exited") || !strings.Contains(f.Error, testbin.QEMUAbortMessage) {
		t.Errorf("failure %+v", f)
	}
	if line := f.String(); !strings.HasPrefix(line, "broken dns: 2 of 2 runs: boot: ") || strings.Contains(line, "\n") {
		t.Errorf("failure line %q", line)
	}
	runs, err := results.ReadRuns(out)
	if err != nil || len(runs) != 4 {
		t.Fatalf("runs.jsonl: %d runs, %v; want all 4 kept", len(runs), err)
	}
	md, err := os.ReadFile(filepath.Join(out, ReportDir, "report.md"))
	if err != nil {
		t.Fatalf("no report: %v", err)
	}
	for _, want := range []string{"| broken | dns | tcg | 2 (2 failed) | no finished run | – | all 2 runs failed (see Failed runs) |",
		"## Failed runs", "| broken | dns | 1 | boot: ", "| broken | dns | 2 | boot: ", testbin.QEMUAbortMessage} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(string(md), "| fine | dns | none | 2 | ") {
		t.Errorf("report.md lacks the native target's finished runs:\n%s", md)
	}

	// --resume has nothing left to do, and still says what failed.
	sum, err = Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary, Resume: true, NoReport: true})
	if !errors.Is(err, ErrRunsFailed) || sum.Done != 0 || len(sum.Failures) != 1 {
		t.Errorf("resumed: %+v, %v; want the earlier failures reported", sum, err)
	}
}

// TestFailFastStopsAtTheFirstFailure: --fail-fast ends the campaign at the
// first failed run, which is kept and reported.
func TestFailFastStopsAtTheFirstFailure(t *testing.T) {
	cfg, data := loadConfig(t, failingConfig(t))
	out := t.TempDir()
	sum, err := Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary, FailFast: true})
	if !errors.Is(err, ErrFailFast) || !errors.Is(err, ErrRunsFailed) {
		t.Fatalf("err = %v, want ErrFailFast and ErrRunsFailed", err)
	}
	if want := "stopped at the first failed run (--fail-fast): 1 of 1 runs failed, 3 not run"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if sum.Done != 1 || len(sum.Failures) != 1 || sum.Failures[0].Target != "broken" {
		t.Errorf("summary %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(out, ReportDir, "report.md")); err != nil {
		t.Errorf("no report after --fail-fast: %v", err)
	}
}
