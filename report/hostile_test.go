package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ukbench/ukbench/results"
)

// Issue 14, item 5: every figure survives any data a run can record.
// Each case is a result set a run can leave; Write must not panic on any
// (nor fail: a figure with nothing to draw says so).

func hostileRun(target string, steps ...results.Step) results.Run {
	return results.Run{Target: target, Workload: "dns", Repeat: 1, Accel: "tcg", Steps: steps}
}

// histOf is a latency histogram holding the given values (µs).
func histOf(vals ...int64) *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, 100_000_000, 3)
	h.SetTag("latency")
	for _, v := range vals {
		h.RecordValue(v)
	}
	return h
}

func TestWriteSurvivesAnyRecordedData(t *testing.T) {
	zeroBoot := &results.Boot{}
	zeroMem := &results.Memory{}
	cases := []struct {
		name  string
		runs  []results.Run
		hists map[int]*hdrhistogram.Histogram // run index -> the histogram of its first step
		// refused: no run records it (results.CheckRun refuses it): Write
		// leaves it out with a warning instead of drawing it.
		refused bool
	}{
		{name: "a step of zero duration", runs: []results.Run{hostileRun("osv", results.Step{})}, refused: true},
		{name: "a 1ns step (huge achieved rate, no latency)", runs: []results.Run{hostileRun("osv",
			results.Step{OfferedRPS: 1000, DurationS: 1e-9, Sent: 1, Answered: 1, AchievedRPS: 1e9})}},
		{name: "all zeros with a boot and memory", runs: []results.Run{{Target: "osv", Workload: "dns", Repeat: 1,
			Boot: zeroBoot, Memory: zeroMem, Steps: []results.Step{{}}}}, refused: true},
		{name: "a single point", runs: []results.Run{hostileRun("osv",
			results.Step{OfferedRPS: 100, DurationS: 1, Sent: 100, Answered: 100, AchievedRPS: 100,
				LatencyUS: results.Latency{P50: 100, P90: 150, P99: 200, P999: 200, Max: 200, Mean: 110}})}},
		{name: "zero latencies with answers", runs: []results.Run{hostileRun("osv",
			results.Step{OfferedRPS: 100, DurationS: 1, Sent: 100, Answered: 100, AchievedRPS: 100})}},
		{name: "offered rate zero", runs: []results.Run{hostileRun("osv",
			results.Step{OfferedRPS: 0, DurationS: 1, Sent: 0, Answered: 0})}, refused: true},
		{name: "all targets failed", runs: []results.Run{
			{Target: "osv", Workload: "dns", Repeat: 1, Error: "boot failed"},
			{Target: "linux", Workload: "http", Repeat: 1, Error: "boot failed", Boot: zeroBoot}}},
		{name: "all failed with steps that lost everything", runs: []results.Run{
			hostileRun("osv", results.Step{OfferedRPS: 100, DurationS: 1, Sent: 100, Errors: map[string]uint64{"timeout": 100}}),
			hostileRun("linux", results.Step{OfferedRPS: 100, DurationS: 1, NeverSent: 100})}},
		{name: "a histogram of one zero sample", runs: []results.Run{hostileRun("osv",
			results.Step{OfferedRPS: 100, DurationS: 1, Sent: 1, Answered: 1, AchievedRPS: 1})},
			hists: map[int]*hdrhistogram.Histogram{0: histOf(0)}},
		{name: "a histogram of one sample", runs: []results.Run{hostileRun("osv",
			results.Step{OfferedRPS: 100, DurationS: 1, Sent: 1, Answered: 1, AchievedRPS: 1, LatencyUS: results.Latency{P50: 7, P90: 7, P99: 7, P999: 7, Max: 7, Mean: 7}})},
			hists: map[int]*hdrhistogram.Histogram{0: histOf(7)}},
		{name: "an empty histogram", runs: []results.Run{hostileRun("osv",
			results.Step{OfferedRPS: 100, DurationS: 1, Sent: 1})},
			hists: map[int]*hdrhistogram.Histogram{0: histOf()}},
		{name: "identical samples", runs: []results.Run{hostileRun("osv",
			results.Step{OfferedRPS: 1000, DurationS: 1, Sent: 1000, Answered: 1000, AchievedRPS: 1000, LatencyUS: results.Latency{P50: 50, P90: 50, P99: 50, P999: 50, Max: 50, Mean: 50}})},
			hists: map[int]*hdrhistogram.Histogram{0: histOf(50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50)}},
		{name: "a maximum rate of zero", runs: []results.Run{{Target: "osv", Workload: "dns", Repeat: 1, MaxSustainableRPS: 0,
			Steps: []results.Step{{OfferedRPS: 5, DurationS: 1}}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, h := range tc.hists {
				r := &tc.runs[i]
				r.Hist = fmt.Sprintf("hist/r%d", i)
				writeHistLog(t, filepath.Join(dir, r.Hist, results.HistFileName(1, r.Steps[0].OfferedRPS)), h)
			}
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("Write panicked: %v", p)
					}
				}()
				w, err := Write(filepath.Join(dir, "report"), []Source{{Label: "x", Runs: tc.runs, Dir: dir}}, []string{"png", "svg"})
				if err != nil {
					t.Fatalf("Write: %v", err)
				}
				if tc.refused {
					if len(w.Warnings) == 0 || !errors.Is(w.Warnings[0].Err, results.ErrImplausible) || !strings.Contains(w.Warnings[0].Msg, "left out") {
						t.Errorf("warnings %v, want the refused run left out", w.Warnings)
					}
					return
				}
				if len(w.Figures) == 0 {
					t.Errorf("no figure written")
				}
			}()
		})
	}
}

func TestWriteWarnsOfAnUnreadableHistogram(t *testing.T) {
	for _, garbage := range []string{"not a histogram log\n", "#[StartTime: x]\n0.0,1.0,2.0,HISTFAAA\n", "\x00\x01\x02"} {
		dir := t.TempDir()
		runs := []results.Run{hostileRun("osv", results.Step{OfferedRPS: 100, DurationS: 1, Sent: 1, Answered: 1, AchievedRPS: 1})}
		runs[0].Hist = "hist/r1"
		path := filepath.Join(dir, runs[0].Hist, results.HistFileName(1, 100))
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(garbage), 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := Write(filepath.Join(dir, "report"), []Source{{Label: "x", Runs: runs, Dir: dir}}, []string{"svg"})
		if err != nil {
			t.Fatalf("%q: Write: %v (a bad histogram should be a warning, not the end of the report)", garbage, err)
		}
		if len(w.Warnings) != 1 || w.Warnings[0].File != path || !strings.Contains(w.Warnings[0].Msg, "histogram") {
			t.Errorf("%q: warnings %v, want one naming %s", garbage, w.Warnings, path)
		}
	}
}
