package experiment

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ukbench/ukbench/results"
)

// TestQuickstartEndToEnd runs configs/quickstart.yaml, trimmed (one repeat,
// two rates, 1 s steps), through real QEMU, and checks every result file.
func TestQuickstartEndToEnd(t *testing.T) {
	needQEMU(t)
	t.Setenv("UKBENCH_OSV_IMAGE", "") // the optional OSv target is skipped
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
	// native and linux × dns and http; the osv runs skipped.
	if sum.Done != 4 || sum.Failed != 0 || sum.Skipped != 1 || len(notes) != 1 {
		t.Fatalf("summary %+v, notes %q", sum, notes)
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
		if r.Target == "linux" {
			if r.Boot == nil || r.Memory == nil || r.Memory.QEMURSSAfterKiB == 0 || (r.Accel != "tcg" && r.Accel != "kvm") {
				t.Errorf("linux run lacks boot/memory/accel: %+v %+v %q", r.Boot, r.Memory, r.Accel)
			}
		} else if r.Accel != "none" {
			t.Errorf("native run accel %q", r.Accel)
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
	if p.Accel == "" || p.QEMU == "" || p.HostKernel == "" || p.VM.MemoryMiB != 512 || len(p.Images) < 3 {
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
