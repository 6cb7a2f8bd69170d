package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ukbench/ukbench/experiment"
	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/targets"
)

var testLive = loadgen.Live{Offered: 1000, Elapsed: 1500 * time.Millisecond, Length: 7 * time.Second, Sent: 1500, Answered: 1498}

// campaignEvents are two runs as experiment.Run reports them: one that
// finishes a step, one that fails after its boot.
func campaignEvents() []experiment.Event {
	step := results.Step{OfferedRPS: 1000, Sent: 5000, Answered: 5000, AchievedRPS: 1000, Valid: true, Sustainable: true,
		LatencyUS: results.Latency{P50: 210, P90: 380, P99: 900, P999: 2100, Max: 3900}}
	osv := experiment.RunKey{Target: "osv", Workload: "dns", Repeat: 1}
	native := experiment.RunKey{Target: "native", Workload: "dns", Repeat: 1}
	return []experiment.Event{
		{Kind: experiment.Note, Msg: "resuming: 1 finished run kept"},
		{Kind: experiment.RunStarted, Index: 1, Total: 3, Key: osv},
		{Kind: experiment.Booted, Index: 1, Total: 3, Key: osv, Instance: &targets.Instance{Accel: "kvm", Addr: "127.0.0.1:40001",
			Boot: &results.Boot{QEMUStartMS: 12, ConsoleReadyMS: 300, FirstAnswerMS: 410}}},
		{Kind: experiment.StepProgress, Index: 1, Total: 3, Key: osv, Live: testLive},
		{Kind: experiment.StepDone, Index: 1, Total: 3, Key: osv, Step: &step},
		{Kind: experiment.RunDone, Index: 1, Total: 3, Key: osv, Run: &results.Run{Steps: []results.Step{step}, MaxSustainableRPS: 1000}},
		{Kind: experiment.RunStarted, Index: 2, Total: 3, Key: native},
		{Kind: experiment.Booted, Index: 2, Total: 3, Key: native, Instance: &targets.Instance{Accel: results.AccelNone, Addr: "127.0.0.1:40002",
			Boot: &results.Boot{ConsoleReadyMS: 5, FirstAnswerMS: 7}}},
		{Kind: experiment.StepProgress, Index: 2, Total: 3, Key: native, Live: testLive},
		{Kind: experiment.RunDone, Index: 2, Total: 3, Key: native, Run: &results.Run{Error: "server exited"}},
	}
}

// On a terminal the campaign's running step is one line on stderr,
// rewritten in place and erased before anything else is printed; the
// finished lines on stdout are the same either way.
func TestCampaignProgressRewritesALiveLineOnlyOnATerminal(t *testing.T) {
	for _, terminal := range []bool{true, false} {
		var out, live bytes.Buffer
		// One run took 10 s: the second's ETA is 2 × 10 s.
		p := testProgress(&out, &live, terminal, time.Now().Add(-10*time.Second))
		for _, e := range campaignEvents() {
			p.event(e)
		}
		testClearProgress(p)
		name := "progress-plain"
		if terminal {
			name = "progress-terminal"
		}
		golden(t, name, "stdout:\n"+out.String()+"stderr:\n"+live.String())
	}
}

func TestLoadLiveLineWritesOnlyOnATerminal(t *testing.T) {
	var b bytes.Buffer
	l := testLoadLine(&b, true)
	testLoadShow(l, testLive)
	testLoadShow(l, loadgen.Live{Offered: 2000, Elapsed: 12 * time.Second, Length: 12 * time.Second, Sent: 24000, Answered: 23990})
	l.clear()
	golden(t, "liveline-load-terminal", b.String())

	b.Reset()
	l = testLoadLine(&b, false)
	testLoadShow(l, testLive)
	l.clear()
	if b.Len() != 0 {
		t.Errorf("off a terminal the live line wrote %q", b.String())
	}
}

// Only a character device counts as a terminal: a buffer, a regular file
// or --quiet get no live line.
func TestLiveLineIsOffForAnythingButATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Error("a file or a buffer taken for a terminal")
	}
	for _, l := range []*liveLine{newLiveLine(f, false), newLiveLine(&bytes.Buffer{}, false), newLiveLine(os.Stderr, true)} {
		if l.on {
			t.Errorf("live line on for %T (quiet or not a terminal)", l.w)
		}
	}
}

func testProgress(out, live io.Writer, terminal bool, start time.Time) *progress {
	return &progress{out: out, live: &liveLine{w: live, on: terminal}, start: start}
}

func testClearProgress(p *progress) { p.live.clear() }

func testLoadLine(w io.Writer, terminal bool) *liveLine { return &liveLine{w: w, on: terminal} }

// testLoadShow shows a step as `ukbench load` does.
func testLoadShow(l *liveLine, v loadgen.Live) { l.step("", v, "") }
