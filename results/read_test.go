package results

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadRuns(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, RunsFile)
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"target":"osv","workload":"dns","repeat":1,"accel":"tcg","steps":[],"max_sustainable_rps":5,"error":"","future_field":1}` + "\n\n" +
		`{"target":"linux","workload":"http","repeat":2,"accel":"tcg","steps":[{"offered_rps":100,"sent":10,"answered":9}],"max_sustainable_rps":0,"error":"boot timeout"}` + "\n")
	for _, p := range []string{dir, path} { // a directory or the file itself
		runs, err := ReadRuns(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 2 || runs[0].Target != "osv" || runs[1].Error != "boot timeout" || runs[1].Steps[0].LossFraction() != 0.1 {
			t.Errorf("ReadRuns(%s) = %+v", p, runs)
		}
	}
	for _, tt := range []struct{ content, mention string }{
		{`{"target":"osv","workload":"dns"}` + "\n{broken\n", RunsFile + ":2:"},
		{`{"workload":"dns"}` + "\n", `needs "target" and "workload"`},
		{"\n", "no runs"},
	} {
		write(tt.content)
		if _, err := ReadRuns(dir); !errors.Is(err, ErrResults) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("content %q: error %v, want ErrResults mentioning %q", tt.content, err, tt.mention)
		}
	}
	if _, err := ReadRuns(filepath.Join(dir, "missing")); !errors.Is(err, ErrResults) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: %v", err)
	}
}

func TestReadVMShape(t *testing.T) {
	dir := t.TempDir()
	if shape, err := ReadVMShape(dir); shape != "" || err != nil {
		t.Errorf("no manifest: %q, %v; want no shape and no error", shape, err)
	}
	os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"provenance":{"vm":{"vcpus":1,"memory_mib":1024}}}`), 0o644)
	if shape, err := ReadVMShape(dir); shape != `{"memory_mib":1024,"vcpus":1}` || err != nil {
		t.Errorf("shape %q, %v; want canonical JSON with sorted keys", shape, err)
	}
	os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{not json`), 0o644)
	if _, err := ReadVMShape(dir); !errors.Is(err, ErrResults) || !strings.Contains(err.Error(), ManifestFile) {
		t.Errorf("broken manifest: %v, want ErrResults naming it", err)
	}
	// A runs file named directly has no manifest beside it to read.
	if shape, err := ReadVMShape(filepath.Join(dir, RunsFile)); shape != "" || err != nil {
		t.Errorf("runs file path: %q, %v", shape, err)
	}
}

// TestReadRunsTornFinalLine: a final line cut short (no newline, not a
// whole record: a full disk, a machine that died mid-write) is an
// unfinished run: ReadRunsWarn skips it with a warning naming file:line
// and its offset, ReadRuns says ErrTorn; the same damage on an earlier
// line, or a final line with its newline, is still corruption.
func TestReadRunsTornFinalLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, RunsFile)
	good := `{"target":"a","workload":"dns","repeat":1,"steps":[]}` + "\n"
	torn := `{"target":"b","workload":"dns","rep`
	for _, tt := range []struct {
		name, content string
		runs          int
	}{
		{"cut mid-record", good + good + torn, 2},
		{"zeros after a crash", good + "\x00\x00\x00\x00", 1},
		{"only the torn line", torn, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			runs, warns, err := ReadRunsWarn(dir)
			if len(warns) != 1 || warns[0].File != path || warns[0].Line != tt.runs+1 ||
				warns[0].Offset != int64(tt.runs*len(good)) || !strings.Contains(warns[0].String(), fmt.Sprintf("%s:%d: torn final line", path, tt.runs+1)) {
				t.Errorf("warnings %+v; want one naming %s:%d at offset %d", warns, path, tt.runs+1, tt.runs*len(good))
			}
			if tt.runs == 0 {
				if !errors.Is(err, ErrNoRuns) || !errors.Is(err, ErrResults) || !strings.Contains(err.Error(), "torn final line") {
					t.Errorf("error %v, want ErrNoRuns naming the torn line", err)
				}
			} else if err != nil || len(runs) != tt.runs {
				t.Errorf("%d runs, %v; want %d and no error", len(runs), err, tt.runs)
			}
			if _, err := ReadRuns(dir); !errors.Is(err, ErrResults) || (tt.runs > 0 && !errors.Is(err, ErrTorn)) {
				t.Errorf("ReadRuns: %v, want ErrTorn", err)
			}
		})
	}
	// Not torn: a whole final record without its newline; corruption
	// before the end, or on a final line that has its newline.
	os.WriteFile(path, []byte(good+strings.TrimSuffix(good, "\n")), 0o644)
	if runs, warns, err := ReadRunsWarn(dir); err != nil || len(runs) != 2 || len(warns) != 0 {
		t.Errorf("a whole last record without newline: %d runs, %v, %v", len(runs), warns, err)
	}
	for _, content := range []string{good + torn + "\n" + good, good + torn + "\n"} {
		os.WriteFile(path, []byte(content), 0o644)
		if _, warns, err := ReadRunsWarn(dir); !errors.Is(err, ErrResults) || errors.Is(err, ErrTorn) || !strings.Contains(err.Error(), RunsFile+":2:") || len(warns) != 0 {
			t.Errorf("content %q: %v, %v; want corruption at line 2", content, warns, err)
		}
	}
}
