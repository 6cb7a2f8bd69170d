package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// ErrResults is wrapped by every error reading a result directory.
var ErrResults = errors.New("bad results")

// RunsFile is the name of the run log in a result directory.
const RunsFile = "runs.jsonl"

// ErrTorn is wrapped by ReadRuns's error for a runs file whose final line
// was cut short; ReadRunsWarn skips such a line with a Warning instead.
var ErrTorn = errors.New("torn final line")

// ErrNoRuns is wrapped (with ErrResults) when a runs file holds no run.
var ErrNoRuns = errors.New("no runs")

// A Warning is a problem in a result directory that a reader worked
// around. Readers return warnings, never print them: the command that
// called them does.
type Warning struct {
	File string
	Line int
	// Offset is where the skipped bytes begin in File: a torn final line
	// runs from there to the end of the file.
	Offset int64
	Msg    string
}

// String is "file:line: msg", or "file: msg" for a warning about a whole
// file (Line 0).
func (w Warning) String() string {
	if w.Line == 0 {
		return fmt.Sprintf("%s: %s", w.File, w.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg)
}

// ReadRuns reads the runs of a result directory (its runs.jsonl), or of a
// runs file named directly. Blank lines are skipped; a line that is not a
// run record is an error naming the file and line. Unknown fields are
// ignored (the format only grows). A torn final line is an error wrapping
// ErrTorn: ReadRunsWarn skips it with a warning.
func ReadRuns(path string) ([]Run, error) {
	runs, warns, err := ReadRunsWarn(path)
	if err == nil && len(warns) > 0 {
		return nil, fmt.Errorf("%w: %w: %s", ErrResults, ErrTorn, warns[0])
	}
	return runs, err
}

// ReadRunsWarn is ReadRuns that takes a torn final line for what it is, a
// record whose write was cut short (a full disk, a machine that died
// mid-write): an unfinished run. It skips that line and says so in a
// Warning. A torn line is a final one that lacks its newline and is not a
// whole record; corruption anywhere else is still an error naming the
// file and line. With no run at all it returns an error wrapping ErrNoRuns,
// and the warnings.
func ReadRunsWarn(path string) ([]Run, []Warning, error) {
	file := path
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		file = filepath.Join(path, RunsFile)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w (want a result directory holding %s, or a runs file)", ErrResults, err, RunsFile)
	}
	defer f.Close()
	var (
		runs  []Run
		warns []Warning
		off   int64
	)
	rd := bufio.NewReaderSize(f, 1<<20)
	for line := 1; ; line++ {
		raw, rerr := rd.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrResults, file, rerr)
		}
		start := off
		off += int64(len(raw))
		if b := bytes.TrimSpace(raw); len(b) > 0 {
			var r Run
			if err := json.Unmarshal(b, &r); err != nil {
				if rerr == io.EOF { // the final line, without its newline
					warns = append(warns, Warning{File: file, Line: line, Offset: start,
						Msg: fmt.Sprintf("torn final line (%d bytes, no newline: %v): skipped, its run is unfinished", len(raw), err)})
					break
				}
				return nil, nil, fmt.Errorf("%w: %s:%d: %v", ErrResults, file, line, err)
			}
			if r.Target == "" || r.Workload == "" {
				return nil, nil, fmt.Errorf("%w: %s:%d: a run needs \"target\" and \"workload\"", ErrResults, file, line)
			}
			runs = append(runs, r)
		}
		if rerr == io.EOF {
			break
		}
	}
	if len(runs) == 0 {
		msg := ""
		for _, w := range warns {
			msg += " (" + w.String() + ")"
		}
		return nil, warns, fmt.Errorf("%w: %s: %w%s", ErrResults, file, ErrNoRuns, msg)
	}
	return runs, warns, nil
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
		return "", fmt.Errorf("%w: %w", ErrResults, err)
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
