package results

import (
	"errors"
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
