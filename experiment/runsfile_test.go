package experiment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/results"
)

// mountTmpfs mounts a tmpfs of the given size (mount's size=) on a new
// directory, and unmounts it when the test ends. It skips the test where
// mounting is not permitted (not root, or no CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		testbin.SkipOrFail(t, fmt.Sprintf("cannot mount a tmpfs of %s on %s (%v): this test fills a small file system and needs root", size, dir, err))
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// fillFS writes a ballast file into dir until its file system is full.
func fillFS(dir string) (int64, error) {
	f, err := os.Create(filepath.Join(dir, "ballast"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	var n int64
	for {
		w, err := f.Write(chunk)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// TestDiskFullThenResume fills the result directory's file system (a
// tmpfs of 200 KiB) mid-campaign, at a point where the next record cannot
// fit in runs.jsonl's last page, so that its write is cut short (on
// today's main that left a torn line that blocked --resume). The
// campaign stops with the error; runs.jsonl holds every finished run
// whole and nothing torn. Once the file system is bigger, --resume runs
// the rest: every run once, the earlier ones byte for byte as they were.
func TestDiskFullThenResume(t *testing.T) {
	mnt := mountTmpfs(t, "200k")
	cfg, data := loadConfig(t, strings.Replace(nativeConfig, "repeats: 3", "repeats: 4", 1))
	out := filepath.Join(mnt, "out")
	runsPath := filepath.Join(out, results.RunsFile)
	page := int64(os.Getpagesize())
	var recorded []byte // runs.jsonl when the disk filled
	var fillErr error
	opts := Options{OutDir: out, ConfigData: data, Binary: testBinary, NoReport: true}
	opts.Events = func(e Event) {
		if e.Kind != RunDone || e.Index != 2 {
			return
		}
		// After the second run (the events come from the campaign's
		// goroutine: nothing writes meanwhile), pad runs.jsonl with blank
		// lines (readers skip them) to 100 bytes short of its last page, so
		// that the next record (over 900 bytes) cannot fit in it, and fill
		// the file system.
		f, err := os.OpenFile(runsPath, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			fillErr = err
			return
		}
		st, _ := f.Stat()
		if room := page - st.Size()%page; room > 100 {
			_, err = f.Write(bytes.Repeat([]byte("\n"), int(room-100)))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			recorded, err = os.ReadFile(runsPath)
		}
		if err == nil {
			_, err = fillFS(mnt)
		}
		fillErr = err
	}
	sum, fullErr := Run(context.Background(), cfg, opts)
	if fillErr != nil {
		t.Fatal(fillErr)
	}
	if recorded == nil {
		t.Fatalf("the disk was never filled: %+v, %v", sum, fullErr)
	}
	got, rerr := os.ReadFile(runsPath)
	if rerr != nil || !bytes.Equal(got, recorded) {
		t.Fatalf("runs.jsonl after the full disk (%v):\n%q\nwant what was recorded before it:\n%q", rerr, tail(got), tail(recorded))
	}
	before, err := results.ReadRuns(runsPath)
	if err != nil {
		t.Fatalf("runs.jsonl after the full disk: %v", err)
	}
	if !errors.Is(fullErr, syscall.ENOSPC) || !strings.Contains(fullErr.Error(), "not recorded") {
		t.Fatalf("full disk: %+v, %v; want ENOSPC saying the run was not recorded", sum, fullErr)
	}
	t.Logf("disk full after %d runs (%d bytes of runs.jsonl): %v", len(before), len(recorded), fullErr)

	// A bigger file system (the ballast stays), and --resume.
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT, "size=16m"); err != nil {
		t.Fatal(err)
	}
	var notes []string
	opts = Options{OutDir: out, ConfigData: data, Resume: true, Binary: testBinary,
		Events: func(e Event) {
			if e.Kind == Note {
				notes = append(notes, e.Msg)
			}
		}}
	sum, err = Run(context.Background(), cfg, opts)
	if err != nil || sum.Skipped != len(before) || sum.Done != 8-len(before) {
		t.Fatalf("resumed: %+v, %v (notes %q); want %d skipped, the rest done", sum, err, notes, len(before))
	}
	got, _ = os.ReadFile(runsPath)
	if !bytes.HasPrefix(got, recorded) {
		t.Errorf("the runs recorded before the full disk changed:\n%q\nwant the prefix\n%q", got, recorded)
	}
	keys := runKeys(t, runsPath)
	seen := map[string]int{}
	for _, k := range keys {
		seen[k]++
	}
	if len(keys) != 8 || len(seen) != 8 {
		t.Errorf("runs.jsonl after --resume: %q; want 8 distinct runs", keys)
	}
	if _, err := os.Stat(filepath.Join(out, ReportDir, "report.md")); err != nil {
		t.Errorf("no report after --resume: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, results.ManifestFile+".tmp")); err == nil {
		t.Errorf("a half-written manifest copy was left behind")
	}
}

// tail is the end of a file's bytes, for messages.
func tail(b []byte) string {
	if len(b) > 300 {
		return fmt.Sprintf("…%s", b[len(b)-300:])
	}
	return string(b)
}

// TestResumeAfterTornRecord: a machine that died while a record was being
// written leaves it torn at the end of runs.jsonl. --resume says so, cuts
// it off and does that run again; the others stay as they were. A damaged
// line before the last is corruption: --resume refuses, naming file:line.
func TestResumeAfterTornRecord(t *testing.T) {
	cfg, data := loadConfig(t, strings.Replace(nativeConfig, "repeats: 3", "repeats: 1", 1))
	out := t.TempDir()
	runsPath := filepath.Join(out, results.RunsFile)
	if _, err := Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary, NoReport: true}); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(runsPath)
	if err != nil {
		t.Fatal(err)
	}
	first := whole[:bytes.IndexByte(whole, '\n')+1]
	lost, _, _ := strings.Cut(string(whole[len(first):]), `"repeat"`)
	if err := os.WriteFile(runsPath, whole[:len(whole)-40], 0o644); err != nil { // the second record cut short
		t.Fatal(err)
	}
	var notes []string
	opts := Options{OutDir: out, ConfigData: data, Resume: true, Binary: testBinary, NoReport: true, TimerProbe: -1,
		Events: func(e Event) {
			if e.Kind == Note {
				notes = append(notes, e.Msg)
			}
		}}
	sum, err := Run(context.Background(), cfg, opts)
	if err != nil || sum.Done != 1 || sum.Skipped != 1 {
		t.Fatalf("resume after a torn record: %+v, %v; want the torn run done again", sum, err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], runsPath+":2: torn final line") {
		t.Errorf("notes %q; want one naming %s:2 as torn", notes, runsPath)
	}
	got, _ := os.ReadFile(runsPath)
	if !bytes.HasPrefix(got, first) || !strings.HasPrefix(string(got[len(first):]), lost) || bytes.Count(got, []byte("\n")) != 2 {
		t.Errorf("runs.jsonl after --resume:\n%s\nwant the first record as it was, then the torn run's again", got)
	}

	// Damage before the last line is not a torn record.
	os.WriteFile(runsPath, append([]byte(`{"target":"a","workload":"dns","rep`+"\n"), got...), 0o644)
	if _, err := Run(context.Background(), cfg, opts); !errors.Is(err, results.ErrResults) || !strings.Contains(err.Error(), runsPath+":1:") {
		t.Errorf("resume with a damaged first line: %v, want ErrResults naming %s:1", err, runsPath)
	}
}

// A record the reader refuses (here a step at −500/s) is no torn line:
// --resume leaves it in the file, says so, and does its run again; only
// a torn final line is cut off.
func TestFinishedRunsKeepsRefusedRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), results.RunsFile)
	good := `{"target":"a","workload":"dns","repeat":1,"steps":[]}` + "\n"
	refused := `{"target":"a","workload":"dns","repeat":2,"steps":[{"offered_rps":-500,"duration_s":1}]}` + "\n"
	torn := `{"target":"a","workload":"dns","rep`
	os.WriteFile(path, []byte(good+refused+torn), 0o644)
	done, notes, err := finishedRuns(path)
	if err != nil || len(done) != 1 || !done[RunKey{"a", "dns", 1}] {
		t.Fatalf("done %v, %v: want run 1 alone", done, err)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], path+":2: run a dns #2 refused") || !strings.Contains(notes[1], path+":3: torn final line") {
		t.Errorf("notes %q: want run 2 refused, line 3 torn", notes)
	}
	if got, _ := os.ReadFile(path); string(got) != good+refused {
		t.Errorf("runs.jsonl now %q: want the torn line cut off, the refused record kept", got)
	}
}

// A record holding a value JSON cannot encode (+Inf: two agents' rates
// that overflowed) is written all the same, its step invalid and the
// run's error saying why; before, the write failed and the run was lost.
func TestAppendRunWritesNonFinite(t *testing.T) {
	path := filepath.Join(t.TempDir(), results.RunsFile)
	ok := results.Step{OfferedRPS: 100, DurationS: 1, Sent: 100, Answered: 100, AchievedRPS: 100, Valid: true, Sustainable: true}
	bad := ok
	bad.OfferedRPS, bad.AchievedRPS = 200, math.Inf(1)
	if err := appendRun(path, results.Run{Target: "a", Workload: "dns", Repeat: 1, Steps: []results.Step{ok, bad}}); err != nil {
		t.Fatalf("appendRun: %v", err)
	}
	runs, err := results.ReadRuns(path)
	if err != nil {
		t.Fatal(err)
	}
	r := runs[0]
	if len(r.Steps) != 2 || !r.Steps[0].Sustainable || r.Steps[1].Valid || r.Steps[1].Sustainable || !strings.Contains(r.Error, "steps[1].achieved_rps: not finite") {
		t.Errorf("record %+v: want both steps, the second invalid, the error naming its achieved rate", r)
	}
}
