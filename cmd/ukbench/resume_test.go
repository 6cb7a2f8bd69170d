package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIQuickThenResume: a campaign begun with --quick does not go on in
// full under --resume (exit 2, saying what differs), and goes on under
// --resume --quick, even after a comment was added to the config. Each
// session stops before its first run (its context is cancelled): nothing
// is measured.
func TestCLIQuickThenResume(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exp.yaml")
	body := `name: quick
targets:
  - name: a
    kind: native
workloads:
  - kind: dns
    rates: "300,600,900"
    step: 2s
`
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, stderr, code := runCLI(ctx, "run", cfg, "-o", out, "--quick"); code != 1 || !strings.Contains(stderr, "interrupted") {
		t.Fatalf("first session: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code := runCLI(ctx, "run", cfg, "-o", out, "--resume")
	if code != 2 || !strings.Contains(stderr, "config changed") || !strings.Contains(stderr, `workloads[0].rates: "300,600" → "300,600,900"`) {
		t.Errorf("--resume without --quick: exit %d, want 2 naming the rates\n%s", code, stderr)
	}
	// A refused resume began no campaign: no "0 runs done … of 0 planned".
	if strings.Contains(stdout, "runs done") || strings.Contains(stdout, "results:") {
		t.Errorf("a refused resume printed a campaign summary:\n%s", stdout)
	}
	if err := os.WriteFile(cfg, []byte("# a comment\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runCLI(ctx, "run", cfg, "-o", out, "--resume", "--quick"); code != 1 || !strings.Contains(stderr, "interrupted") {
		t.Errorf("--resume --quick after a comment: exit %d, want the campaign to go on (and stop: interrupted)\n%s", code, stderr)
	}
}
