package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzReadRuns reads bytes as a runs.jsonl. Whatever they hold, the reader
// neither panics nor believes what it should not: every run it returns
// passes CheckRun, is writable as it is, and is the only one of its key;
// every warning names a line within the bytes and its cause. And any
// record the bytes decode to, believed or not, is one Writable makes
// believable: what ukbench writes, it reads back. Seeds are
// records of real runs (a campaign of native targets, `ukbench load` of
// DNS over UDP and TCP and of HTTP, a load made by agents with a probe
// and a lying agent) and issue 24's hostile records.
func FuzzReadRuns(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, line := range bytes.Split(data, []byte("\n")) {
			var r Run
			if json.Unmarshal(line, &r) != nil {
				continue
			}
			Writable(&r)
			if err := CheckRun(r); err != nil {
				t.Fatalf("Writable left a record CheckRun refuses: %v", err)
			}
		}
		runs, warns, err := readRuns(bytes.NewReader(data), RunsFile)
		if err != nil {
			if !errors.Is(err, ErrResults) {
				t.Fatalf("error %v does not wrap ErrResults", err)
			}
			return
		}
		seen := map[runKey]bool{}
		for _, r := range runs {
			if err := CheckRun(r); err != nil {
				t.Fatalf("believed a run CheckRun refuses: %v", err)
			}
			k := runKey{r.Target, r.Workload, r.Repeat}
			if seen[k] {
				t.Fatalf("run %v returned twice", k)
			}
			seen[k] = true
			w := r
			if err := Writable(&w); err != nil {
				t.Fatalf("a believed run is not writable as it is: %v", err)
			}
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("a believed run cannot be encoded: %v", err)
			}
		}
		for _, w := range warns {
			if w.Line < 1 || w.Offset < 0 || w.Offset > int64(len(data)) || w.Err == nil {
				t.Fatalf("warning %+v: want a line, an offset within the %d bytes, a cause", w, len(data))
			}
		}
	})
}

// The real records among FuzzReadRuns's seeds are believed whole: the
// checks refuse nothing a run records.
func TestRealRecordsBelieved(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadRuns")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "issue24") {
			continue // hostile on purpose
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, quoted, _ := strings.Cut(string(b), "[]byte(")
		data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(quoted), ")"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		runs, warns, err := readRuns(strings.NewReader(data), e.Name())
		if err != nil || len(warns) > 0 || len(runs) == 0 {
			t.Errorf("%s: %d runs, warnings %v, %v: want every record believed", e.Name(), len(runs), warns, err)
		}
	}
}
