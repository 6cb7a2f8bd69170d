package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrResults is wrapped by every error reading a result directory.
var ErrResults = errors.New("bad results")

// RunsFile is the name of the run log in a result directory.
const RunsFile = "runs.jsonl"

// ReadRuns reads the runs of a result directory (its runs.jsonl), or of a
// runs file named directly. Blank lines are skipped; a line that is not a
// run record is an error naming the file and line. Unknown fields are
// ignored (the format only grows).
func ReadRuns(path string) ([]Run, error) {
	file := path
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		file = filepath.Join(path, RunsFile)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (want a result directory holding %s, or a runs file)", ErrResults, err, RunsFile)
	}
	defer f.Close()
	var runs []Run
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var r Run
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %v", ErrResults, file, line, err)
		}
		if r.Target == "" || r.Workload == "" {
			return nil, fmt.Errorf("%w: %s:%d: a run needs \"target\" and \"workload\"", ErrResults, file, line)
		}
		runs = append(runs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrResults, file, err)
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("%w: %s: no runs", ErrResults, file)
	}
	return runs, nil
}

// ManifestFile is the name of the manifest in a result directory.
const ManifestFile = "manifest.json"

// ReadVMShape returns the VM shape recorded in a result directory's
// manifest (provenance.vm) in a canonical JSON form, or "" when the
// directory has no manifest or the manifest records no shape (native and
// external runs).
func ReadVMShape(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrResults, err)
	}
	var m struct {
		Provenance struct {
			VM map[string]any `json:"vm"`
		} `json:"provenance"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrResults, filepath.Join(dir, ManifestFile), err)
	}
	if len(m.Provenance.VM) == 0 {
		return "", nil
	}
	canon, err := json.Marshal(m.Provenance.VM) // map keys are sorted
	return string(canon), err
}
