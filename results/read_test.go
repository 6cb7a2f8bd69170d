package results

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
		`{"target":"linux","workload":"http","repeat":2,"accel":"tcg","steps":[{"offered_rps":100,"duration_s":0.1,"sent":10,"answered":9}],"max_sustainable_rps":0,"error":"boot timeout"}` + "\n")
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
	// The good records differ only in their repeat: 1, 2, … (one digit).
	good := `{"target":"a","workload":"dns","repeat":1,"steps":[]}` + "\n"
	goods := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(strings.Replace(good, `"repeat":1`, fmt.Sprintf(`"repeat":%d`, i+1), 1))
		}
		return b.String()
	}
	torn := `{"target":"b","workload":"dns","rep`
	for _, tt := range []struct {
		name, content string
		runs          int
	}{
		{"cut mid-record", goods(2) + torn, 2},
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
	os.WriteFile(path, []byte(strings.TrimSuffix(goods(2), "\n")), 0o644)
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

// Records that CheckRun refuses, and a run recorded twice, are skipped by
// ReadRunsWarn with a warning naming file:line and the field (or both
// lines), nothing else in the file lost; ReadRuns fails on them naming
// the same. These are issue 24's: a step at −500/s (which became a
// target's summary row), one 1e308 value (which stretched a figure's
// axis), `steps: [{}]` ("no answers at 0/s"), answered > sent, and a
// duplicate (counted twice in compare's rank test).
func TestReadRunsRefusesImplausibleAndDuplicates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, RunsFile)
	step := `{"offered_rps":500,"duration_s":5,"sent":2500,"answered":2500,"achieved_rps":500,"valid":true,"sustainable":true,` +
		`"latency_us":{"p50":300,"p90":400,"p99":900,"p999":1000,"max":2000,"mean":350}}`
	rec := func(repeat int, step string) string {
		return fmt.Sprintf(`{"target":"osv","workload":"dns","repeat":%d,"steps":[%s],"max_sustainable_rps":500}`+"\n", repeat, step)
	}
	for _, tc := range []struct {
		name, bad string
		want      string // in the warning
		cause     error
	}{
		{"offered −500/s", rec(2, strings.Replace(step, `"offered_rps":500`, `"offered_rps":-500`, 1)), "steps[0].offered_rps: -500", ErrImplausible},
		{"a latency of 1e308 µs", rec(2, strings.Replace(step, `"max":2000`, `"max":1e308`, 1)), "steps[0].latency_us.max", ErrImplausible},
		{"achieved 1e308/s", rec(2, strings.Replace(step, `"achieved_rps":500`, `"achieved_rps":1e308`, 1)), "steps[0].achieved_rps", ErrImplausible},
		{"steps: [{}]", rec(2, `{}`), "steps[0].offered_rps: 0", ErrImplausible},
		{"answered > sent", rec(2, strings.Replace(step, `"answered":2500`, `"answered":2600`, 1)), "steps[0].answered: 2600: more than the 2500 sent", ErrImplausible},
		{"a duplicate", rec(1, step), "run osv dns #1 skipped: run recorded twice: line 1 has it already", ErrDuplicate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(path, []byte(rec(1, step)+tc.bad+rec(3, step)), 0o644)
			runs, warns, err := ReadRunsWarn(dir)
			if err != nil || len(runs) != 2 || runs[0].Repeat != 1 || runs[1].Repeat != 3 {
				t.Errorf("%d runs, %v: want runs 1 and 3", len(runs), err)
			}
			if len(warns) != 1 || warns[0].Line != 2 || !strings.Contains(warns[0].String(), path+":2: ") ||
				!strings.Contains(warns[0].Msg, tc.want) || !errors.Is(warns[0].Err, tc.cause) {
				t.Errorf("warnings %v: want one at %s:2 saying %q", warns, path, tc.want)
			}
			if _, err := ReadRuns(dir); !errors.Is(err, ErrResults) || !errors.Is(err, tc.cause) || !strings.Contains(err.Error(), path+":2: ") {
				t.Errorf("ReadRuns: %v, want it refused at %s:2", err, path)
			}
		})
	}
	// A refused record does not make a later record of its run a
	// duplicate: that one is the run (a run redone after its record was
	// refused).
	os.WriteFile(path, []byte(rec(1, `{}`)+rec(1, step)), 0o644)
	if runs, warns, _ := ReadRunsWarn(dir); len(runs) != 1 || len(warns) != 1 || warns[0].Line != 1 {
		t.Errorf("%d runs, warnings %v: want the second record, the first refused", len(runs), warns)
	}
}

// A line longer than the limit is read through, never held whole, and
// skipped; the lines after it are read.
func TestReadLineBounded(t *testing.T) {
	long := strings.Repeat("x", 5000)
	rd := bufio.NewReaderSize(strings.NewReader("short\n"+long+"\nafter"), 16)
	for _, want := range []struct {
		line string
		err  error
	}{{"short\n", nil}, {"", ErrLineTooLong}, {"after", io.EOF}} {
		line, _, err := readLine(rd, 1000)
		if string(line) != want.line || !errors.Is(err, want.err) {
			t.Errorf("readLine = %q, %v; want %q, %v", line, err, want.line, want.err)
		}
	}
}
