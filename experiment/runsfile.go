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
// finished run survives whatever happens next.
func appendRun(path string, r results.Run) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// finishedRuns reads the keys of the runs already in runs.jsonl.
func finishedRuns(path string) (map[RunKey]bool, error) {
	done := map[RunKey]bool{}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	runs, err := results.ReadRuns(path)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		done[RunKey{Target: r.Target, Workload: r.Workload, Repeat: r.Repeat}] = true
	}
	return done, nil
}
