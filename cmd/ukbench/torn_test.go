package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIReportTornRecord: a result directory whose last record was cut
// short (a full disk, a machine that died mid-write) is still reported,
// compared and exported, with a warning naming file:line on stderr; a
// damaged line before the last is an error naming file:line (exit 2).
func TestCLIReportTornRecord(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "compare", "pair", "runs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Count(data, []byte("\n"))
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs.jsonl")
	last := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	torn := data[:len(data)-len(data[last:])/2] // half the last record, no newline
	if err := os.WriteFile(runs, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	warning := fmt.Sprintf("warning: %s:%d: torn final line", runs, lines)
	for _, args := range [][]string{
		{"report", dir, "-o", filepath.Join(t.TempDir(), "report"), "--format", "svg"},
		{"export", "--format", "gobench", dir},
		{"compare", dir, dir},
	} {
		stdout, stderr, code := runCLI(context.Background(), args...)
		if code != 0 || !strings.Contains(stderr, warning) || strings.Count(stderr, "warning:") != strings.Count(strings.Join(args, " "), dir) {
			t.Errorf("%q: exit %d, want 0 with %q once per directory on stderr\nstdout:\n%s\nstderr:\n%s", args, code, warning, stdout, stderr)
		}
	}
	// The same damage before the last line is corruption.
	if err := os.WriteFile(runs, append(append(torn, '\n'), data[last:]...), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(context.Background(), "report", dir, "-o", filepath.Join(t.TempDir(), "report"))
	if want := fmt.Sprintf("%s:%d:", runs, lines); code != 2 || !strings.Contains(stderr, want) || strings.Contains(stderr, "warning:") {
		t.Errorf("damaged line %d of %d: exit %d, want 2 naming %s\nstdout:\n%s\nstderr:\n%s", lines, lines+1, code, want, stdout, stderr)
	}
}
