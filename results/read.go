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

// ErrDuplicate is wrapped by ReadRuns's error for a runs file that
// records one run (target, workload, repeat) twice; ReadRunsWarn keeps the
// first and skips the others with a Warning naming both lines.
var ErrDuplicate = errors.New("run recorded twice")

// ErrLineTooLong is wrapped by ReadRuns's error for a line longer than
// MaxRunLine; ReadRunsWarn skips it with a Warning.
var ErrLineTooLong = errors.New("line too long")

// MaxRunLine bounds one line of a runs file, in bytes, and so the memory a
// file can cost its reader. The longest record ukbench writes (10,000
// steps, each with several agents' records) is well under it.
const MaxRunLine = 256 << 20

// A Warning is a problem in a result directory that a reader worked
// around. Readers return warnings, never print them: the command that
// called them does.
type Warning struct {
	File string
	Line int
	// Offset is where the skipped bytes begin in File: a torn final line
	// (Err wraps ErrTorn) runs from there to the end of the file.
	Offset int64
	Msg    string
	// Err is why the bytes were skipped: it wraps ErrTorn (a torn final
	// line), ErrImplausible (a record refused by CheckRun), ErrDuplicate
	// or ErrLineTooLong; nil for a warning of another kind.
	Err error
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
// ignored (the format only grows). Every record is checked (CheckRun)
// before it is believed. Where ReadRunsWarn would warn (a torn final line,
// a refused record, a run recorded twice, a line longer than MaxRunLine),
// ReadRuns fails, wrapping the warning's cause (ErrTorn, ErrImplausible,
// ErrDuplicate, ErrLineTooLong).
func ReadRuns(path string) ([]Run, error) {
	runs, warns, err := ReadRunsWarn(path)
	if err == nil && len(warns) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrResults, warningError{warns[0]})
	}
	return runs, err
}

// warningError is a Warning as ReadRuns's error: its text, wrapping its
// cause.
type warningError struct{ w Warning }

func (e warningError) Error() string { return e.w.String() }
func (e warningError) Unwrap() error { return e.w.Err }

// ReadRunsWarn is ReadRuns that reads what it can believe and skips the
// rest with a Warning naming file:line, so that one bad record costs no
// other:
//   - a torn final line, a record whose write was cut short (a full disk,
//     a machine that died mid-write): an unfinished run. A torn line is a
//     final one that lacks its newline and is not a whole record;
//   - a record that CheckRun refuses (it names the field);
//   - a second record of a run already read (target, workload, repeat):
//     the first is kept;
//   - a line longer than MaxRunLine.
//
// A line that is not a record, anywhere but at the torn end, is still an
// error naming the file and line. With no run at all it returns an error
// wrapping ErrNoRuns, and the warnings.
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
	runs, warns, err := readRuns(f, file)
	if err != nil {
		return nil, nil, err
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

// readRuns reads the records of r, named file in messages (ReadRunsWarn).
func readRuns(r io.Reader, file string) ([]Run, []Warning, error) {
	var (
		runs  []Run
		warns []Warning
		off   int64
		bel   Believer
	)
	rd := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		raw, n, rerr := readLine(rd, MaxRunLine)
		if rerr != nil && rerr != io.EOF && !errors.Is(rerr, ErrLineTooLong) {
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrResults, file, rerr)
		}
		start := off
		off += n
		warn := func(err error, msg string) {
			warns = append(warns, Warning{File: file, Line: line, Offset: start, Msg: msg, Err: err})
		}
		if errors.Is(rerr, ErrLineTooLong) {
			warn(ErrLineTooLong, fmt.Sprintf("line longer than %d bytes: skipped", MaxRunLine))
			continue
		}
		if b := bytes.TrimSpace(raw); len(b) > 0 {
			var r Run
			if err := json.Unmarshal(b, &r); err != nil {
				if rerr == io.EOF { // the final line, without its newline
					warn(ErrTorn, fmt.Sprintf("torn final line (%d bytes, no newline: %v): skipped, its run is unfinished", len(raw), err))
					break
				}
				return nil, nil, fmt.Errorf("%w: %s:%d: %v", ErrResults, file, line, err)
			}
			if r.Target == "" || r.Workload == "" {
				return nil, nil, fmt.Errorf("%w: %s:%d: a run needs \"target\" and \"workload\"", ErrResults, file, line)
			}
			switch err := bel.Believe(r, fmt.Sprintf("line %d", line)); {
			case errors.Is(err, ErrDuplicate):
				warn(ErrDuplicate, fmt.Sprintf("run %s %s #%d skipped: %v", r.Target, r.Workload, r.Repeat, err))
			case err != nil:
				warn(err, fmt.Sprintf("run %s %s #%d refused: %v", r.Target, r.Workload, r.Repeat, err))
			default:
				runs = append(runs, r)
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	return runs, warns, nil
}

// readLine reads through the next newline (or the end), returning the
// line, its length in bytes and io.EOF at the end. A line longer than
// limit is read through but not kept: ErrLineTooLong.
func readLine(rd *bufio.Reader, limit int) ([]byte, int64, error) {
	var line []byte
	var n int64
	for {
		chunk, err := rd.ReadSlice('\n')
		n += int64(len(chunk))
		if n <= int64(limit) {
			line = append(line, chunk...)
		} else {
			line = nil
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil && err != io.EOF:
			return nil, n, err
		case n > int64(limit):
			if err == nil {
				return nil, n, ErrLineTooLong
			}
			return nil, n, fmt.Errorf("%w (at the end of the file)", ErrLineTooLong)
		}
		return line, n, err
	}
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
