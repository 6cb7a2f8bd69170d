package experiment

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
)

// TestPlacementUnderARestrictedMask runs this test binary under taskset -c
// 1: the default placement then cannot use CPU 0 (one usable CPU: nothing
// pinned), and a placement naming CPU 0 is refused with the config, not
// when a boot fails.
func TestPlacementUnderARestrictedMask(t *testing.T) {
	if os.Getenv("UKBENCH_TEST_MASKED") == "1" {
		if pl := choosePlacement(nil); len(pl.LoadCPUs) != 0 || len(pl.TargetCPUs) != 0 {
			t.Fatalf("default placement under CPU 1 only: %+v", pl)
		}
		_, _, err := Load(writeConfig(t, "name: m\nplacement: {load_cpus: [0], target_cpus: [1]}\ntargets: [{name: n, kind: native}]\nworkloads: [{kind: dns, rates: \"100\", step: 1s}]\n"))
		if err == nil || !strings.Contains(err.Error(), "placement.load_cpus: CPU 0: this host lets ukbench use CPUs 1") {
			t.Fatalf("placement on CPU 0: %v", err)
		}
		return
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		testbin.SkipOrFail(t, "taskset (util-linux) not installed")
	}
	cmd := exec.Command(taskset, "-c", "1", os.Args[0], "-test.run", "^TestPlacementUnderARestrictedMask$", "-test.count=1")
	cmd.Env = append(os.Environ(), "UKBENCH_TEST_MASKED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "failed to set pid") || strings.Contains(string(out), "Invalid argument") {
			t.Skipf("cannot run on CPU 1 only: %s", out)
		}
		t.Fatalf("under taskset -c 1: %v\n%s", err, out)
	}
}
