package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/cachedir"
	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/vm"
)

// TestCLIExplicitKVMThatCannotRunFailsAtOnce: --accel kvm with a QEMU that
// aborts under KVM (or on a host without /dev/kvm) is a named error, exit
// 2, before anything boots or is written.
func TestCLIExplicitKVMThatCannotRunFailsAtOnce(t *testing.T) {
	t.Setenv(vm.EnvAccel, "")
	t.Setenv(cachedir.Env, t.TempDir()) // the probe's verdict stays in the test
	dir := t.TempDir()
	qemu, disk := testbin.FailingQEMU(t), testbin.OSvDisk(t)
	target := filepath.Join(dir, "broken.yaml")
	os.WriteFile(target, []byte(fmt.Sprintf("{name: broken, kind: osv, app: dns, image: %s, vm: {qemu: %s}}\n", disk, qemu)), 0o644)
	cfg := filepath.Join(dir, "broken-campaign.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`name: broken
vm: {qemu: %s}
targets: [{name: broken, kind: osv, app: dns, image: %s}]
workloads: [{kind: dns, rates: "200", step: 300ms}]
`, qemu, disk)), 0o644)
	out := filepath.Join(dir, "results")
	for _, args := range [][]string{
		{"boot", target, "--accel", "kvm", "--runs", "1"},
		{"run", cfg, "--accel", "kvm", "-o", out},
	} {
		stdout, stderr, code := runCLI(context.Background(), args...)
		if code != 2 || !strings.Contains(stderr, vm.ErrNoKVM.Error()+": ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q with the reason", args, code, stderr, vm.ErrNoKVM)
		}
		if strings.Contains(stdout, "boot 1:") {
			t.Errorf("%v: booted anyway:\n%s", args, stdout)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("run --accel kvm wrote %s before failing (%v)", out, err)
	}
}

// TestCLIBootInterruptedSaysWhere: Ctrl-C during `ukbench boot` says which
// boot it cut, not only "context canceled".
func TestCLIBootInterruptedSaysWhere(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, stderr, code := runCLI(ctx, "boot", "native:dns", "--runs", "2")
	if code != 1 || !strings.Contains(stderr, "boot: interrupted during boot 1 of 2 (0 finished): context canceled") {
		t.Errorf("exit %d, stderr %q; want the boot it cut named", code, stderr)
	}
}
