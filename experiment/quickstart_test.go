package experiment

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/vm"
)

// TestQuickstartEndToEnd runs configs/quickstart.yaml, trimmed (one repeat,
// two rates, 1 s steps), through real QEMU, and checks every result file.
// With an OSv kernel (testbin.EnvOSvKernel) its osv target runs too, as a
// user's does, and must; without, it is skipped, saying so. The osv-image
// target is skipped (no image is given).
func TestQuickstartEndToEnd(t *testing.T) {
	withOSv := os.Getenv(testbin.EnvOSvKernel) != ""
	if withOSv {
		testbin.OSvKernel(t) // a kernel given must run: it checks the file and marks the test
		testbin.PIE(t)       // beside testBinary, where the osv target finds it
	}
	needQEMU(t)
	t.Setenv(testbin.EnvOSvImage, "")
	cfg, data, err := Load("../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Trim()
	out := t.TempDir()
	var notes []string
	sum, err := Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary, Version: "test",
		Events: func(e Event) {
			if e.Kind == Note {
				notes = append(notes, e.Msg)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	// native, linux and (with a kernel) osv × dns and http; the optional
	// targets left (osv-image: http; osv, without a kernel: dns and http)
	// skipped, each said once.
	wantDone, wantSkipped, osvSkipNotes := 4, 3, 1
	if withOSv {
		wantDone, wantSkipped, osvSkipNotes = 6, 1, 0
	}
	if sum.Done != wantDone || sum.Failed != 0 || sum.Skipped != wantSkipped || countContaining(notes, "skipping optional target osv:") != osvSkipNotes || countContaining(notes, "skipping optional target osv-image:") != 1 {
		t.Fatalf("summary %+v, want %d done and %d skipped; notes %q", sum, wantDone, wantSkipped, notes)
	}
	// The accelerator and why: in the summary, the manifest and every
	// guest run; a fallback to TCG is told once.
	if sum.AccelReason == "" {
		t.Errorf("summary has no accel reason: %+v", sum)
	}
	if fellBack := countContaining(notes, "using TCG"); fellBack > 1 || (fellBack == 1) != (sum.Accel == "tcg" && vm.WantedAccel("", cfg.VM.Accel).Accel == vm.AccelAuto) {
		t.Errorf("accel %s: notes %q; want one TCG notice exactly when auto fell back", sum.Accel, notes)
	}
	if man, err := readManifest(filepath.Join(out, results.ManifestFile)); err != nil {
		t.Fatal(err)
	} else if p := man.Provenance; p.Accel != sum.Accel || p.AccelReason != sum.AccelReason || (p.Accel == "tcg") != (p.TCGWarning != "") {
		t.Errorf("manifest accel %q reason %q tcg warning %q; want %q and %q", p.Accel, p.AccelReason, p.TCGWarning, sum.Accel, sum.AccelReason)
	}
	runs, err := results.ReadRuns(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if len(r.Steps) != 2 || r.Error != "" {
			t.Errorf("%s %s: %d steps, error %q", r.Target, r.Workload, len(r.Steps), r.Error)
		}
		for i, s := range r.Steps {
			if s.Answered == 0 {
				t.Errorf("%s %s step %d: no answers", r.Target, r.Workload, i+1)
			}
			h := filepath.Join(out, r.Hist, results.HistFileName(i+1, s.OfferedRPS))
			if st, err := os.Stat(h); err != nil || st.Size() == 0 {
				t.Errorf("histogram %s: %v", h, err)
			}
		}
		if st, err := os.Stat(filepath.Join(out, r.ConsoleLog)); err != nil || st.Size() == 0 {
			t.Errorf("%s %s: console log %q: %v", r.Target, r.Workload, r.ConsoleLog, err)
		}
		if r.Target == "native" {
			if r.Accel != "none" {
				t.Errorf("native run accel %q", r.Accel)
			}
			continue
		}
		if r.Accel != sum.Accel || r.AccelReason != sum.AccelReason {
			t.Errorf("%s %s: accel %q (%q), want the campaign's %q (%q)", r.Target, r.Workload, r.Accel, r.AccelReason, sum.Accel, sum.AccelReason)
		}
		if r.Boot == nil || r.Memory == nil || r.Memory.QEMURSSAfterKiB == 0 || (r.Accel != "tcg" && r.Accel != "kvm") {
			t.Errorf("%s %s run lacks boot/memory/accel: %+v %+v %q", r.Target, r.Workload, r.Boot, r.Memory, r.Accel)
		}
	}
	var man Manifest
	b, err := os.ReadFile(filepath.Join(out, results.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	p := man.Provenance
	wantImages := 3 // the Linux guest's kernel, its two initramfs
	if withOSv {
		wantImages = 5 // and OSv's two disks
	}
	if p.Accel == "" || p.QEMU == "" || p.HostKernel == "" || p.VM.MemoryMiB != 512 || len(p.Images) < wantImages {
		t.Errorf("provenance incomplete: %+v", p)
	}
	for _, im := range p.Images {
		if len(im.SHA256) != 64 {
			t.Errorf("image %s without digest", im.File)
		}
	}
	if shape, err := results.ReadVMShape(out); err != nil || shape == "" {
		t.Errorf("compare cannot read the VM shape: %q, %v", shape, err)
	}
	for _, f := range []string{"report.md", "report.html", "results.csv", "dns-throughput.png"} {
		if _, err := os.Stat(filepath.Join(out, ReportDir, f)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
}

func countContaining(lines []string, substr string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}
