package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/ukbench/ukbench/results"
)

// File names in a result directory.
const (
	InterruptedFile = "interrupted.jsonl" // runs cut short by Ctrl-C: kept, redone by --resume
	ConsoleDir      = "console"
	HistDir         = "hist"
	ReportDir       = "report"
)

// appendRun appends one run as a JSON line and syncs the file, so a
// finished run survives whatever happens next. The record is written whole
// or not at all: after a failed or short write (a full disk) or a failed
// sync, the file is cut back to the line before it, and the error says
// the run was not recorded. It is checked first (results.Writable): a value
// JSON cannot hold, or one a reader would refuse, makes its step invalid
// and the record's error say so, rather than fail the write.
func appendRun(path string, r results.Run) error {
	results.Writable(&r)
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	size := st.Size()
	line := append(b, '\n')
	if size > 0 { // a last record without its newline (written by hand) gets one
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", path, err)
		}
		if last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	n, err := f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("%s: run %s %s #%d not recorded: %w", path, r.Target, r.Workload, r.Repeat, err)
		if terr := f.Truncate(size); terr != nil {
			err = errors.Join(err, fmt.Errorf("%s: cutting back the torn record (%d of %d bytes written): %w", path, n, len(line), terr))
		} else {
			f.Sync()
		}
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// finishedRuns reads the keys of the runs already in runs.jsonl (those the
// reader believes: results.ReadRunsWarn). A torn final line (a record
// whose write was cut short: a full disk, a machine that died mid-write)
// is an unfinished run: it is cut off the file, so that the next record
// starts on a line of its own, and said in a note; the run is done again.
// A record the reader refuses is left where it is, said in a note, and
// its run done again. Corruption anywhere else is an error.
func finishedRuns(path string) (done map[RunKey]bool, notes []string, err error) {
	done = map[RunKey]bool{}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return done, nil, nil
	}
	runs, warns, err := results.ReadRunsWarn(path)
	if err != nil && !errors.Is(err, results.ErrNoRuns) {
		return nil, nil, err
	}
	for _, w := range warns {
		if !errors.Is(w.Err, results.ErrTorn) {
			// A record the reader refused (implausible, or a run recorded
			// twice) stays in the file; its run, unless read already, is
			// done again.
			notes = append(notes, w.String())
			continue
		}
		if err := os.Truncate(path, w.Offset); err != nil {
			return nil, nil, fmt.Errorf("%s: cutting off a torn final line: %w", w, err)
		}
		notes = append(notes, fmt.Sprintf("%s (cut off the file; that run is done again)", w))
	}
	for _, r := range runs {
		done[RunKey{Target: r.Target, Workload: r.Workload, Repeat: r.Repeat}] = true
	}
	return done, notes, nil
}
