package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/results"
)

// TestCLIReportWarnsOfAGarbageHistogram: a step histogram that is not a
// histogram log is left out of the report with a warning naming it on
// stderr; the report is still written (issue 14, item 14).
func TestCLIReportWarnsOfAGarbageHistogram(t *testing.T) {
	dir := t.TempDir()
	run := `{"target":"native","workload":"dns","repeat":1,"accel":"none","hist":"hist/r1",` +
		`"steps":[{"offered_rps":100,"duration_s":1,"sent":100,"answered":100,"achieved_rps":100,"valid":true,"latency_us":{"p50":50,"p90":70,"p99":90,"p999":90,"max":90,"mean":55}}],"error":""}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, results.RunsFile), []byte(run), 0o644); err != nil {
		t.Fatal(err)
	}
	hlog := filepath.Join(dir, "hist", "r1", results.HistFileName(1, 100))
	os.MkdirAll(filepath.Dir(hlog), 0o755)
	if err := os.WriteFile(hlog, []byte("garbage, not a histogram log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(context.Background(), "report", dir, "-o", filepath.Join(t.TempDir(), "report"), "--format", "svg")
	if code != 0 || !strings.Contains(stderr, "warning: "+hlog+": step histogram unreadable") {
		t.Errorf("exit %d, want 0 with a warning naming %s\nstdout:\n%s\nstderr:\n%s", code, hlog, stdout, stderr)
	}
}
