package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/vm"
)

// TestAccelFlagOverridesEnvOverridesConfig: the campaign's accelerator
// comes from Options.Accel (--accel), else $UKBENCH_ACCEL, else vm.accel,
// and every guest run, the summary and the manifest say which and who
// asked. tcg needs no probe, so the host's KVM does not matter.
func TestAccelFlagOverridesEnvOverridesConfig(t *testing.T) {
	for _, tc := range []struct {
		name, env, flag, config string
		wantBy                  string
	}{
		{"config", "", "", "tcg", "vm.accel"},
		{"env over config", "tcg", "", "kvm", "$UKBENCH_ACCEL"},
		{"flag over env", "kvm", "tcg", "kvm", "--accel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(failingConfig(t), "accel: tcg", "accel: "+tc.config, 1)
			t.Setenv(vm.EnvAccel, tc.env)
			cfg, data := loadConfig(t, body)
			out := t.TempDir()
			sum, err := Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary, Accel: tc.flag})
			if !errors.Is(err, ErrRunsFailed) { // the guest's fake QEMU aborts; the native target runs
				t.Fatalf("err = %v", err)
			}
			wantReason := "tcg asked for by " + tc.wantBy
			if sum.Accel != vm.AccelTCG || sum.AccelReason != wantReason {
				t.Errorf("summary accel %q (%q), want tcg (%q)", sum.Accel, sum.AccelReason, wantReason)
			}
			runs, err := results.ReadRuns(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				if r.Target == "broken" && (r.Accel != vm.AccelTCG || r.AccelReason != wantReason) {
					t.Errorf("guest run %d: accel %q (%q)", r.Repeat, r.Accel, r.AccelReason)
				}
			}
			man, err := readManifest(filepath.Join(out, results.ManifestFile))
			if err != nil {
				t.Fatal(err)
			}
			if p := man.Provenance; p.Accel != vm.AccelTCG || p.AccelReason != wantReason || p.TCGWarning == "" {
				t.Errorf("manifest accel %q (%q), tcg warning %q", p.Accel, p.AccelReason, p.TCGWarning)
			}
		})
	}
}

// TestResumeRefusesAnotherAccelerator: a campaign whose runs so far ran
// under one accelerator is not continued under the other (KVM and TCG
// repeats would mix in one result set).
func TestResumeRefusesAnotherAccelerator(t *testing.T) {
	cfg, data := loadConfig(t, failingConfig(t))
	out := t.TempDir()
	if _, err := Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary}); !errors.Is(err, ErrRunsFailed) {
		t.Fatalf("first session: %v", err)
	}
	// As if the first session had run under KVM.
	manPath := filepath.Join(out, results.ManifestFile)
	man, err := readManifest(manPath)
	if err != nil {
		t.Fatal(err)
	}
	man.Provenance.Accel, man.Provenance.AccelReason = vm.AccelKVM, "KVM ran ukbench's probe guest"
	b, _ := json.Marshal(man)
	if err := os.WriteFile(manPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(out, results.RunsFile))
	_, err = Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary, Resume: true})
	if !errors.Is(err, ErrAccelChanged) || !strings.Contains(err.Error(), "ran under kvm") || !strings.Contains(err.Error(), "--accel kvm") {
		t.Errorf("resume under tcg: %v, want ErrAccelChanged naming both and the way out", err)
	}
	if after, _ := os.ReadFile(filepath.Join(out, results.RunsFile)); string(after) != string(before) {
		t.Error("the refused resume changed runs.jsonl")
	}
}

// TestBadAccelIsRefusedBeforeAnything: a value no accelerator has, from
// the flag or the environment, is an error naming where it came from, and
// nothing is written.
func TestBadAccelIsRefusedBeforeAnything(t *testing.T) {
	cfg, data := loadConfig(t, failingConfig(t))
	for _, tc := range []struct{ env, flag, source string }{{"", "hvf", "--accel"}, {"xen", "", "$UKBENCH_ACCEL"}} {
		t.Setenv(vm.EnvAccel, tc.env)
		out := filepath.Join(t.TempDir(), "results")
		_, err := Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary, Accel: tc.flag})
		if !errors.Is(err, vm.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.source+": ") {
			t.Errorf("env %q flag %q: %v, want ErrInvalidConfig naming %s", tc.env, tc.flag, err, tc.source)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s written before the error", out)
		}
	}
}
