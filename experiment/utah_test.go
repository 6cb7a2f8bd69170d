package experiment

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/loadgen"
	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/targets/linuximage"
)

// TestUtahConfigsQuickWithOSv runs configs/utah-dns.yaml and
// utah-http.yaml as `ukbench run --quick` does (one repeat, the first two
// rates, 1 s steps) with the OSv kernel given: the study's servers in the
// Linux guest (BIND, Apache, lighttpd), ukbench's DNS server there and on
// OSv, and lighttpd on OSv, each booted under QEMU and swept. It checks
// what ukbench controls (every target ran to its record, each step holds
// the schedule's sends and its histogram, boot and console kept); how fast
// the guests answered under TCG on this host is not its business.
func TestUtahConfigsQuickWithOSv(t *testing.T) {
	testbin.OSvKernel(t)
	testbin.PIE(t)
	needQEMU(t)
	t.Setenv(testbin.EnvOSvImage, "") // the image target is skipped
	for _, tc := range []struct {
		config  string
		apps    []string // the host servers the Linux guests copy
		targets []string
	}{
		{"utah-dns.yaml", []string{"bind"}, []string{"linux-bind", "linux", "osv"}},
		{"utah-http.yaml", []string{"apache", "lighttpd"}, []string{"linux-apache", "osv-lighttpd", "linux-lighttpd"}},
	} {
		t.Run(strings.TrimSuffix(tc.config, ".yaml"), func(t *testing.T) {
			for _, app := range tc.apps {
				if _, err := linuximage.HostAppVersion(context.Background(), app); err != nil {
					testbin.SkipOrFail(t, fmt.Sprintf("%v (make deps-apps installs it)", err))
				}
			}
			cfg, data, err := Load(filepath.Join("..", "configs", tc.config))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Trim()
			out := t.TempDir()
			sum, err := Run(context.Background(), cfg, Options{OutDir: out, ConfigData: data, Binary: testBinary, Version: "test"})
			if err != nil {
				t.Fatalf("%v (summary %+v)", err, sum)
			}
			if sum.Done != len(tc.targets) || sum.Failed != 0 || sum.Skipped != 1 {
				t.Fatalf("summary %+v: want %d runs done (%v), none failed, the OSv image skipped", sum, len(tc.targets), tc.targets)
			}
			runs, err := results.ReadRuns(out)
			if err != nil {
				t.Fatal(err)
			}
			ran := map[string]bool{}
			for _, r := range runs {
				ran[r.Target] = true
				checkQuickRun(t, cfg, out, r)
			}
			for _, name := range tc.targets {
				if !ran[name] {
					t.Errorf("target %s has no run record", name)
				}
			}
		})
	}
}

// checkQuickRun checks a trimmed run's record against its workload: both
// rates stepped, each step's sends as the schedule held them, histograms,
// boot figures, memory and the console log kept.
func checkQuickRun(t *testing.T, cfg *Config, out string, r results.Run) {
	t.Helper()
	if r.Error != "" {
		t.Errorf("%s %s: error %q", r.Target, r.Workload, r.Error)
	}
	var w *Workload
	for i := range cfg.Workloads {
		if string(cfg.Workloads[i].Kind) == r.Workload {
			w = &cfg.Workloads[i]
		}
	}
	if w == nil {
		t.Fatalf("%s: workload %q not in the config", r.Target, r.Workload)
	}
	rates, err := loadgen.ParseRates(w.Rates)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != len(rates) {
		t.Fatalf("%s %s: %d steps, want one per rate %v", r.Target, r.Workload, len(r.Steps), rates)
	}
	for i, s := range r.Steps {
		due := rates[i] * s.DurationS
		if s.OfferedRPS != rates[i] || math.Abs(float64(s.Sent+s.NeverSent)-due) > 1 {
			t.Errorf("%s %s step %d: offered %v/s, sent %d + never sent %d; want %v/s and the schedule's %.0f", r.Target, r.Workload, i+1, s.OfferedRPS, s.Sent, s.NeverSent, rates[i], due)
		}
		if h := filepath.Join(out, r.Hist, results.HistFileName(i+1, s.OfferedRPS)); !nonEmpty(h) {
			t.Errorf("%s %s: no histogram log %s", r.Target, r.Workload, h)
		}
	}
	if b := r.Boot; b == nil || b.QEMUStartMS <= 0 || b.ConsoleReadyMS < b.QEMUStartMS || b.FirstAnswerMS < b.ConsoleReadyMS {
		t.Errorf("%s %s: boot figures %+v", r.Target, r.Workload, r.Boot)
	}
	if r.Memory == nil || r.Memory.QEMURSSAfterKiB == 0 {
		t.Errorf("%s %s: memory %+v", r.Target, r.Workload, r.Memory)
	}
	if !nonEmpty(filepath.Join(out, r.ConsoleLog)) {
		t.Errorf("%s %s: console log %q empty or missing", r.Target, r.Workload, r.ConsoleLog)
	}
}

func nonEmpty(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Size() > 0
}
