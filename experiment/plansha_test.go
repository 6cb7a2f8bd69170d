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
)

const planConfig = `name: plan
repeats: 2
targets:
  - name: a
    kind: native
workloads:
  - kind: dns
    rates: "300,600,900"
    step: 2s
    warmup: 100ms
`

// session starts a campaign in out and stops it before its first run (ctx
// is cancelled): the manifest is written, nothing is measured. It returns
// Run's error.
func session(t *testing.T, out string, cfg *Config, data []byte, resume bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, cfg, Options{OutDir: out, ConfigData: data, Resume: resume, Binary: testBinary, NoReport: true})
	if err != nil && !errors.Is(err, ErrInterrupted) && !errors.Is(err, ErrConfigChanged) {
		t.Fatalf("session: %v", err)
	}
	return err
}

func trimmed(t *testing.T, body string) (*Config, []byte) {
	t.Helper()
	cfg, data := loadConfig(t, body)
	cfg.Trim()
	return cfg, data
}

// TestResumeChecksThePlan: --resume compares the effective plan (the
// decoded config after --quick), not the file's bytes. A campaign started
// with --quick (1 s steps, two rates) does not resume as a full one from
// the same file, and the error says what differs; an edit of comments,
// layout or the description, or a default spelt out, is no change.
func TestResumeChecksThePlan(t *testing.T) {
	out := t.TempDir()
	cfg, data := trimmed(t, planConfig)
	if err := session(t, out, cfg, data, false); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("first session: %v", err)
	}
	full, _ := loadConfig(t, planConfig)
	err := session(t, out, full, data, true)
	if !errors.Is(err, ErrConfigChanged) {
		t.Fatalf("--quick, then --resume without it: %v; want ErrConfigChanged", err)
	}
	t.Log(err)
	for _, want := range []string{`repeats: 1 → 2`, `workloads[0].rates: "300,600" → "300,600,900"`, `workloads[0].step: "1s" → "2s"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q:\n%v", want, err)
		}
	}
	edited := "# the same campaign, commented\ndescription: now described\n" +
		strings.NewReplacer("name: plan\n", "", "repeats: 2\n", "repeats: 2 # as before\nname: plan\n",
			"warmup: 100ms\n", "warmup: 100ms\n    arrivals: constant # the default\n").Replace(planConfig)
	for _, body := range []string{planConfig, edited} {
		cfg, data := trimmed(t, body)
		if err := session(t, out, cfg, data, true); !errors.Is(err, ErrInterrupted) {
			t.Errorf("resume with an unchanged plan from\n%s\n: %v; want it to go on", body, err)
		}
	}
	var man Manifest
	b, _ := os.ReadFile(filepath.Join(out, results.ManifestFile))
	if err := json.Unmarshal(b, &man); err != nil || man.PlanSHA == "" || man.ConfigSHA == "" || man.ConfigSHA == man.PlanSHA {
		t.Errorf("manifest: %v, config_sha256 %q, plan_sha256 %q; want both", err, man.ConfigSHA, man.PlanSHA)
	}
}

// TestResumeOldManifest: a manifest written before plan_sha256 existed
// holds the config as run; --resume compares its plan, so an unchanged
// campaign resumes (and gets plan_sha256) and a --quick one does not
// resume as a full one. A manifest without a config falls back to the
// file's digest.
func TestResumeOldManifest(t *testing.T) {
	out := t.TempDir()
	manPath := filepath.Join(out, results.ManifestFile)
	cfg, data := trimmed(t, planConfig)
	session(t, out, cfg, data, false)
	strip := func(keys ...string) {
		t.Helper()
		var m map[string]any
		b, _ := os.ReadFile(manPath)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			delete(m, k)
		}
		b, _ = json.Marshal(m)
		os.WriteFile(manPath, b, 0o644)
	}
	strip("plan_sha256")
	full, _ := loadConfig(t, planConfig)
	if err := session(t, out, full, data, true); !errors.Is(err, ErrConfigChanged) {
		t.Errorf("old manifest of a --quick campaign, resumed in full: %v; want ErrConfigChanged", err)
	}
	if err := session(t, out, cfg, data, true); !errors.Is(err, ErrInterrupted) {
		t.Errorf("old manifest, unchanged campaign: %v; want it to go on", err)
	}
	if m, err := readManifest(manPath); err != nil || m.PlanSHA == "" {
		t.Errorf("the resumed old manifest has no plan_sha256: %v", err)
	}
	strip("plan_sha256", "config")
	if err := session(t, out, cfg, data, true); !errors.Is(err, ErrInterrupted) {
		t.Errorf("manifest with neither plan nor config, same file: %v; want it to go on", err)
	}
	strip("plan_sha256", "config")
	if err := session(t, out, cfg, append(data, '#'), true); !errors.Is(err, ErrConfigChanged) {
		t.Errorf("manifest with neither plan nor config, another file: %v; want ErrConfigChanged", err)
	}
}
