package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/vm"
)

// TestCLIRunWithFailingTarget: a campaign whose target never boots (its
// QEMU aborts at once) exits 1 after writing the results and the report,
// which names the error, and prints one line per failed target; with
// --fail-fast it stops at the first failure, still exiting 1.
func TestCLIRunWithFailingTarget(t *testing.T) {
	t.Setenv(vm.EnvAccel, "") // the config's tcg: no KVM probe, whatever the host has
	dir := t.TempDir()
	cfg := filepath.Join(dir, "failing.yaml")
	body := testbin.FailingCampaign(t, "")
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"run-failing-target", nil},
		{"run-failing-target-fail-fast", []string{"--fail-fast"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "results")
			stdout, stderr, code := runCLI(context.Background(), append([]string{"run", cfg, "-o", out}, tt.flags...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s%s", code, stdout, stderr)
			}
			golden(t, tt.name, "stderr:\n"+stderr)
			if !strings.Contains(stdout, "runs done (") || !strings.Contains(stdout, "report:  "+filepath.Join(out, "report", "report.md")) {
				t.Errorf("stdout lacks the summary or the report's path:\n%s", stdout)
			}
			md, err := os.ReadFile(filepath.Join(out, "report", "report.md"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(md), "## Failed runs") || !strings.Contains(string(md), "| broken | dns | 1 | boot: ") ||
				!strings.Contains(string(md), testbin.QEMUAbortMessage) {
				t.Errorf("report.md does not name the failed runs' error:\n%s", md)
			}
			if b, err := os.ReadFile(filepath.Join(out, "runs.jsonl")); err != nil || !strings.Contains(string(b), `"error":"boot: `) {
				t.Errorf("runs.jsonl: %v\n%s", err, b)
			}
		})
	}
}
