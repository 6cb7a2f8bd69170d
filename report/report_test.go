package report

import (
	"encoding/csv"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/results"
)

// reportFixture holds the awkward cases: a failed run without steps, a
// target with a single repeat, and one whose every step was unsustainable.
func reportFixture() []Source {
	runs := runsOf("osv", "tcg", 1400, 1420, 1390)
	for i := range runs {
		runs[i].Boot = &results.Boot{QEMUStartMS: 40 + float64(i), ConsoleReadyMS: 900 + 10*float64(i), FirstAnswerMS: 1200 + 10*float64(i)}
		runs[i].Memory = &results.Memory{QEMURSSKiB: 180000 + 1000*int64(i)}
	}
	runs = append(runs, results.Run{Target: "osv", Workload: "dns", Repeat: 4, Accel: "tcg", Error: "boot: no readiness line within 60s"})
	runs = append(runs, runsOf("linux", "tcg", 1000)...)
	lossy := runsOf("native", "tcg", 0, 0)
	for i := range lossy {
		lossy[i].Steps[0].Answered = 0
		lossy[i].Steps[0].AchievedRPS = 0
		lossy[i].Steps[0].Errors = map[string]uint64{"timeout": 1000}
	}
	runs = append(runs, lossy...)
	return []Source{{Label: "fixture", Runs: runs}}
}

func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	w, err := Write(dir, reportFixture(), []string{"png", "svg"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"results.csv", "report.md"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		goldenFile(t, "report-"+name+".golden", b)
	}
	var titles []string
	for _, f := range w.Figures {
		titles = append(titles, f.Title)
	}
	if len(w.Figures) != 6 {
		t.Fatalf("figures %q, want throughput, box plots, latency and loss for dns, then boot and memory", titles)
	}
	for _, f := range w.Figures {
		for _, file := range f.Files {
			path := filepath.Join(dir, file)
			switch filepath.Ext(file) {
			case ".png":
				fh, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(fh)
				fh.Close()
				if err != nil || img.Bounds().Dx() < 400 {
					t.Errorf("%s: %v, bounds %v", file, err, img.Bounds())
				}
			case ".svg":
				b, _ := os.ReadFile(path)
				if !strings.Contains(string(b), "TCG") || !strings.Contains(string(b), "osv") {
					t.Errorf("%s lacks the TCG label or a series name", file)
				}
			}
		}
	}
}

func TestWriteReportRejectsUnknownFormat(t *testing.T) {
	if _, err := Write(t.TempDir(), reportFixture(), []string{"gif"}); err == nil || !strings.Contains(err.Error(), `"gif"`) {
		t.Errorf("err = %v, want the bad format named", err)
	}
}

func TestSummaryMarksALowerBound(t *testing.T) {
	runs := runsOf("native", "none", 2000, 2000)
	for i := range runs {
		runs[i].Steps[0].Sustainable = true
	}
	ss := buildSeries([]Source{{Label: "x", Runs: runs}})
	if cell := summaryCells(ss[0])[4]; !strings.HasPrefix(cell, "≥ 2000") {
		t.Errorf("max cell %q, want a lower bound when every rate was sustainable", cell)
	}
	runs[1].Steps[0].Sustainable = false
	ss = buildSeries([]Source{{Label: "x", Runs: runs}})
	if cell := summaryCells(ss[0])[4]; strings.HasPrefix(cell, "≥") {
		t.Errorf("max cell %q: a failing step bounds it", cell)
	}
}

// TestSummaryTakesTheSweepsBound: a run whose rate 2000 failed once and
// held on its retry kept up with every rate, so its maximum is a lower bound
// although one of its steps was not sustainable: the record's own
// max_sustainable_bound says so, not the steps.
func TestSummaryTakesTheSweepsBound(t *testing.T) {
	held := false
	run := results.Run{Target: "native", Workload: "dns", Repeat: 1, Accel: "none", MaxSustainableRPS: 2000, MaxSustainableBound: &held,
		Steps: []results.Step{
			{OfferedRPS: 1000, Sent: 1000, Answered: 1000, AchievedRPS: 1000, Valid: true, Sustainable: true, Phase: "sweep"},
			{OfferedRPS: 2000, Sent: 2000, AchievedRPS: 0, Valid: true, Phase: "sweep"},
			{OfferedRPS: 2000, Sent: 2000, Answered: 2000, AchievedRPS: 2000, Valid: true, Sustainable: true, Phase: "retry"},
		}}
	ss := buildSeries([]Source{{Label: "x", Runs: []results.Run{run}}})
	if cell := summaryCells(ss[0])[4]; !strings.HasPrefix(cell, "≥ 2000") {
		t.Errorf("max cell %q, want a lower bound: the sweep held every rate", cell)
	}
}

// failedFixture is a campaign whose linux target never booted (every run
// failed before its first step, as under a broken KVM) while native ran,
// and one native run that failed part-way, keeping its first step.
func failedFixture() []Source {
	abort := "boot: target linux: vm: connect QMP: QEMU exited: signal: aborted: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n" +
		"qemu-system-x86_64: ../target/i386/kvm/kvm.c:3067: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed. | x"
	var runs []results.Run
	for i := 1; i <= 3; i++ {
		runs = append(runs, results.Run{Target: "linux", Workload: "dns", Repeat: i, Accel: "kvm", Error: abort})
	}
	native := runsOf("native", "none", 2000, 2100, 1900)
	native[2].Error = "guest exited during the sweep after 1 steps (console: console/native-dns-3.log)"
	return []Source{{Label: "failing", Runs: append(runs, native...)}}
}

func TestWriteReportFailedRuns(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, failedFixture(), []string{"png"}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "report-failed-report.md.golden", md)
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, want := range []string{"<td>all 3 runs failed (see Failed runs)</td>", `<h2 id="failed-runs">Failed runs</h2>`,
		"<td>linux</td><td>dns</td><td>3</td><td class=\"err\">boot: target linux: vm: connect QMP: QEMU exited: signal: aborted: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n",
		"<td>native</td><td>dns</td><td>3</td>"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if strings.Count(html, `<td class="err">`) != 4 {
		t.Errorf("report.html lists %d failed runs, want 4", strings.Count(html, `<td class="err">`))
	}
	// results.csv has a row for each failed run (the one that failed
	// part-way by its step), with the error.
	f, err := os.Open(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	errCol := slices.Index(rows[0], "run_error")
	for _, row := range rows[1:] {
		if e := row[errCol]; e != "" {
			failed[row[1]+" "+row[3]] = e
		}
	}
	if len(failed) != 4 || !strings.Contains(failed["linux 2"], "MSR 0x10a") || !strings.Contains(failed["native 3"], "guest exited") {
		t.Errorf("results.csv failed runs: %q", failed)
	}
}

// TestTCGBannerSaysWhy: the TCG banner of report.md and report.html gives
// each distinct reason the runs record for running under TCG.
func TestTCGBannerSaysWhy(t *testing.T) {
	why := "KVM present (kvm_pvm) but unusable: QEMU aborted: failed to set MSR 0x10a to 0x69"
	runs := runsOf("linux", "tcg", 900, 1000, 1100)
	for i := range runs {
		runs[i].AccelReason = why
	}
	runs[2].AccelReason = "tcg asked for"
	dir := t.TempDir()
	if _, err := Write(dir, []Source{{Label: "tcg", Runs: append(runs, runsOf("native", "none", 2000)...)}}, []string{"png"}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string][]string{
		"report.md":   {"> Why TCG: " + why + ".\n", "> Why TCG: tcg asked for.\n"},
		"report.html": {"<br>Why TCG: " + why + ".", "<br>Why TCG: tcg asked for."},
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if strings.Count(string(b), w) != 1 {
				t.Errorf("%s: %q appears %d times, want once", file, w, strings.Count(string(b), w))
			}
		}
	}
}

// TestHostTimerBannerAndGeneratorLimitedMarks: a host whose timers wake
// later at p99 than a tenth of the lowest p99 shown gets the banner in
// report.md and report.html; a quiet one does not. Generator-limited
// percentiles are marked with the share of repeats they were flagged in.
func TestHostTimerBannerAndGeneratorLimitedMarks(t *testing.T) {
	write := func(timerP99 float64) (md, html string) {
		t.Helper()
		runs := runsOf("native", "none", 2000, 2000, 2000) // p50 250 µs, p99 500 µs at 1000/s
		for i := range runs {
			p50 := min(60, timerP99)
			runs[i].TimerNoise = &results.TimerNoise{CPUs: []int{0}, Wakeups: 1000,
				LateUS: results.Latency{P50: p50, P90: p50, P99: timerP99, P999: timerP99, Max: 2 * timerP99, Mean: p50}}
			runs[i].Steps[0].GeneratorLimited = []string{"p50"}
			if i < 2 {
				runs[i].Steps[0].GeneratorLimited = []string{"p50", "p99"}
			}
		}
		dir := t.TempDir()
		if _, err := Write(dir, []Source{{Label: "noisy", Runs: runs}}, []string{"png"}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "report.md"))
		h, _ := os.ReadFile(filepath.Join(dir, "report.html"))
		return string(b), string(h)
	}
	md, html := write(2100)
	for file, s := range map[string]string{"report.md": md, "report.html": html} {
		for _, want := range []string{"woke timers up to 2.10 ms late at p99", "below about 21.0 ms is not resolvable", "lowest p99 shown is 500 µs"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s with timers 2.1 ms late at p99: no %q", file, want)
			}
		}
	}
	if want := "250 µs* / 500 µs* (2/3) at 1000/s"; !strings.Contains(md, want) {
		t.Errorf("report.md: no latency cell %q in\n%s", want, md)
	}
	md, html = write(40)
	if strings.Contains(md, "Host timers") || strings.Contains(html, "Host timers") {
		t.Errorf("a banner for timers 40 µs late at p99 against a lowest p99 of 500 µs")
	}
}
