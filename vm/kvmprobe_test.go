package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/cachedir"
	"github.com/ukbench/ukbench/internal/testbin"
)

// fakeProbeHost points the probe at a fake host: an openable stand-in for
// /dev/kvm (unless noKVM), a boot id, a kvm_pvm module, a private cache,
// and this test binary as QEMU in mode. It returns the QEMU to probe and
// the file that counts QEMU's runs.
func fakeProbeHost(t *testing.T, mode string, noKVM bool) (qemu, calls string) {
	t.Helper()
	dir := t.TempDir()
	oldDev, oldBoot, oldMods, oldTimeout := kvmDevice, bootIDFile, sysModuleDir, probeTimeout
	t.Cleanup(func() {
		kvmDevice, bootIDFile, sysModuleDir, probeTimeout = oldDev, oldBoot, oldMods, oldTimeout
		probeMu.Lock()
		clear(probeMemo)
		probeMu.Unlock()
	})
	kvmDevice = filepath.Join(dir, "kvm")
	if !noKVM {
		os.WriteFile(kvmDevice, nil, 0o666)
	}
	bootIDFile = filepath.Join(dir, "boot_id")
	os.WriteFile(bootIDFile, []byte("boot-1\n"), 0o644)
	sysModuleDir = filepath.Join(dir, "module")
	for _, m := range []string{"kvm", "kvm_pvm"} {
		os.MkdirAll(filepath.Join(sysModuleDir, m), 0o755)
	}
	probeTimeout = 2 * time.Second
	t.Setenv(cachedir.Env, filepath.Join(dir, "cache"))
	t.Setenv("UKBENCH_FAKE_QEMU", mode)
	calls = filepath.Join(dir, "calls")
	t.Setenv("UKBENCH_FAKE_QEMU_CALLS", calls)
	return os.Args[0], calls
}

func countCalls(t *testing.T, calls string) int {
	t.Helper()
	b, err := os.ReadFile(calls)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// forgetProbes drops this process's verdicts, as a new ukbench process
// starts without them: only the cache file remains.
func forgetProbes() {
	probeMu.Lock()
	clear(probeMemo)
	probeMu.Unlock()
}

func TestKVMProbeFailureModes(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		usable bool
		reason []string
	}{
		{"probe-ok", true, []string{"KVM (kvm_pvm) ran ukbench's probe guest to 64-bit mode"}},
		{"probe-abort", false, []string{"KVM present (kvm_pvm) but unusable: QEMU aborted", "failed to set MSR 0x10a to 0x69"}},
		{"probe-internal-error", false, []string{`KVM present (kvm_pvm) but unusable: QEMU stopped the probe guest with "KVM internal error. Suberror: 1 (emulation failure)"`, "Booting from Hard Disk"}},
		{"probe-hang", false, []string{"KVM present (kvm_pvm) but unusable: the probe guest made no progress within 2s", "Booting from Hard Disk"}},
		{"probe-no-marker", false, []string{"exited without the probe guest's marker"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			qemu, calls := fakeProbeHost(t, tc.mode, false)
			start := time.Now()
			p, err := ProbeKVM(context.Background(), qemu)
			if err != nil {
				t.Fatal(err)
			}
			if p.Usable != tc.usable {
				t.Errorf("usable = %v, want %v (%s)", p.Usable, tc.usable, p.Reason)
			}
			for _, want := range tc.reason {
				if !strings.Contains(p.Reason, want) {
					t.Errorf("reason %q lacks %q", p.Reason, want)
				}
			}
			if took := time.Since(start); took > probeTimeout+2*time.Second {
				t.Errorf("probe took %v, bound %v", took, probeTimeout)
			}
			if n := countCalls(t, calls); n != 1 {
				t.Errorf("QEMU ran %d times, want 1", n)
			}
			if p.Cached || p.Key == "" || p.QEMUVersion != "QEMU emulator version 7.2.99 (fake)" {
				t.Errorf("probe = %+v, want a fresh verdict with key and QEMU version", p)
			}
			args, _ := os.ReadFile(calls)
			for _, want := range []string{"-accel kvm", "-cpu host", probeGuestDebugExit} {
				if !strings.Contains(string(args), want) {
					t.Errorf("probe's QEMU args %q lack %q (it must try what the guests run)", args, want)
				}
			}
		})
	}
}

func TestKVMProbeIsCachedAndInvalidatedByItsKey(t *testing.T) {
	qemu, calls := fakeProbeHost(t, "probe-abort", false)
	ctx := context.Background()
	first, err := ProbeKVM(ctx, qemu)
	if err != nil || first.Usable {
		t.Fatalf("first probe = %+v, %v", first, err)
	}
	// The same process: the memo answers.
	if p, _ := ProbeKVM(ctx, qemu); p.Reason != first.Reason || countCalls(t, calls) != 1 {
		t.Errorf("second call ran QEMU again (%d runs) or changed its verdict: %+v", countCalls(t, calls), p)
	}
	// A new process: the cache file answers, and says so.
	forgetProbes()
	p, _ := ProbeKVM(ctx, qemu)
	if !p.Cached || p.Reason != first.Reason || countCalls(t, calls) != 1 {
		t.Errorf("after a restart: cached %v, %d QEMU runs, verdict %q; want the cached verdict, 1 run", p.Cached, countCalls(t, calls), p.Reason)
	}
	// Each part of the key invalidates it.
	for _, change := range []struct {
		name string
		do   func()
	}{
		{"a reboot", func() { os.WriteFile(bootIDFile, []byte("boot-2\n"), 0o644) }},
		{"another KVM module", func() { os.MkdirAll(filepath.Join(sysModuleDir, "kvm_intel"), 0o755) }},
		{"a module rebuilt under the same name", func() {
			os.WriteFile(filepath.Join(sysModuleDir, "kvm_pvm", "srcversion"), []byte("B2\n"), 0o644)
		}},
		{"a module parameter changed", func() {
			os.MkdirAll(filepath.Join(sysModuleDir, "kvm_pvm", "parameters"), 0o755)
			os.WriteFile(filepath.Join(sysModuleDir, "kvm_pvm", "parameters", "nested"), []byte("1\n"), 0o644)
		}},
		{"a new /dev/kvm node (module reloaded)", func() {
			os.Remove(kvmDevice)
			os.WriteFile(kvmDevice, nil, 0o666)
		}},
		{"a new QEMU binary", func() {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(qemu, later, later); err != nil {
				testbin.SkipOrFail(t, fmt.Sprintf("cannot touch the test binary: %v", err))
			}
		}},
	} {
		before := countCalls(t, calls)
		change.do()
		forgetProbes()
		if p, _ := ProbeKVM(ctx, qemu); p.Cached || countCalls(t, calls) != before+1 {
			t.Errorf("after %s: cached %v, QEMU runs %d → %d; want a new probe", change.name, p.Cached, before, countCalls(t, calls))
		}
	}
}

// TestKVMProbeKilledFromOutsideIsNotCached: a QEMU that something else
// killed says nothing of KVM: the verdict is not kept, the next call probes.
func TestKVMProbeKilledFromOutsideIsNotCached(t *testing.T) {
	qemu, calls := fakeProbeHost(t, "probe-killed", false)
	p, err := ProbeKVM(context.Background(), qemu)
	if err != nil || p.Usable || !strings.Contains(p.Reason, "from outside ukbench") {
		t.Fatalf("= %+v, %v", p, err)
	}
	if p2, _ := ProbeKVM(context.Background(), qemu); p2.Cached || countCalls(t, calls) != 2 {
		t.Errorf("the outside kill was cached: %d QEMU runs, cached %v", countCalls(t, calls), p2.Cached)
	}
}

func TestKVMProbeWithoutKVMDeviceRunsNothing(t *testing.T) {
	qemu, calls := fakeProbeHost(t, "probe-ok", true)
	p, err := ProbeKVM(context.Background(), qemu)
	if err != nil || p.Usable || !strings.Contains(p.Reason, "no usable "+kvmDevice) {
		t.Errorf("= %+v, %v; want unusable, naming the device", p, err)
	}
	if n := countCalls(t, calls); n != 0 {
		t.Errorf("QEMU ran %d times without a KVM device", n)
	}
}

func TestKVMProbeStopsWhenCancelled(t *testing.T) {
	qemu, calls := fakeProbeHost(t, "probe-hang", false)
	probeTimeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := ProbeKVM(ctx, qemu); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v after cancel", took)
	}
	// A cancelled probe is no verdict: nothing cached, the next call probes.
	forgetProbes()
	probeTimeout = 2 * time.Second
	before := countCalls(t, calls)
	if p, _ := ProbeKVM(context.Background(), qemu); p.Cached || countCalls(t, calls) != before+1 {
		t.Errorf("a cancelled probe was cached: %+v", p)
	}
}

func TestResolveAccel(t *testing.T) {
	ctx := context.Background()
	t.Run("auto falls back to tcg with the probe's reason", func(t *testing.T) {
		qemu, _ := fakeProbeHost(t, "probe-abort", false)
		c, err := ResolveAccel(ctx, qemu, AccelRequest{AccelAuto, "test"})
		if err != nil || c.Accel != AccelTCG || c.Probe == nil || !strings.Contains(c.Reason, "failed to set MSR") {
			t.Fatalf("= %+v, %v", c, err)
		}
		if n := c.Notice(); !strings.Contains(n, "but unusable") || !strings.HasSuffix(n, "using TCG, "+TCGSlowdown) {
			t.Errorf("notice = %q", n)
		}
	})
	t.Run("explicit kvm fails with the reason", func(t *testing.T) {
		qemu, _ := fakeProbeHost(t, "probe-abort", false)
		_, err := ResolveAccel(ctx, qemu, AccelRequest{AccelKVM, "test"})
		if !errors.Is(err, ErrNoKVM) || !strings.Contains(err.Error(), "failed to set MSR 0x10a") {
			t.Errorf("err = %v, want ErrNoKVM with the MSR abort", err)
		}
	})
	t.Run("auto and kvm take a KVM that proved itself", func(t *testing.T) {
		qemu, _ := fakeProbeHost(t, "probe-ok", false)
		for _, want := range []string{"", AccelAuto, AccelKVM} {
			if c, err := ResolveAccel(ctx, qemu, AccelRequest{want, "test"}); err != nil || c.Accel != AccelKVM || c.Notice() != "" {
				t.Errorf("%q = %+v, %v", want, c, err)
			}
		}
	})
	t.Run("tcg probes nothing", func(t *testing.T) {
		qemu, calls := fakeProbeHost(t, "probe-ok", false)
		if c, err := ResolveAccel(ctx, qemu, AccelRequest{AccelTCG, "test"}); err != nil || c.Accel != AccelTCG || c.Probe != nil {
			t.Errorf("= %+v, %v", c, err)
		}
		if countCalls(t, calls) != 0 {
			t.Error("tcg ran the probe")
		}
	})
	t.Run("no KVM device", func(t *testing.T) {
		qemu, _ := fakeProbeHost(t, "probe-ok", true)
		if c, err := ResolveAccel(ctx, qemu, AccelRequest{AccelAuto, "test"}); err != nil || c.Accel != AccelTCG {
			t.Errorf("auto = %+v, %v", c, err)
		}
		if _, err := ResolveAccel(ctx, qemu, AccelRequest{AccelKVM, "test"}); !errors.Is(err, ErrNoKVM) {
			t.Errorf("kvm: %v, want ErrNoKVM", err)
		}
	})
	t.Run("no QEMU", func(t *testing.T) {
		fakeProbeHost(t, "probe-ok", false)
		if _, err := ResolveAccel(ctx, "no-such-qemu-binary", AccelRequest{AccelKVM, "test"}); !errors.Is(err, ErrNoKVM) || !errors.Is(err, ErrNoQEMU) {
			t.Errorf("kvm: %v, want ErrNoKVM and ErrNoQEMU", err)
		}
		if _, err := ResolveAccel(ctx, "no-such-qemu-binary", AccelRequest{AccelAuto, "test"}); errors.Is(err, ErrNoKVM) || !errors.Is(err, ErrNoQEMU) {
			t.Errorf("auto: %v, want ErrNoQEMU alone (nothing can run, so no TCG to fall back to)", err)
		}
	})
	t.Run("bad value", func(t *testing.T) {
		if _, err := ResolveAccel(ctx, "", AccelRequest{"hvf", "test"}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestWantedAccel(t *testing.T) {
	t.Setenv(EnvAccel, "")
	for _, tc := range []struct {
		env, flag, config string
		want              AccelRequest
	}{
		{"", "", "", AccelRequest{AccelAuto, "default"}},
		{"", "", AccelKVM, AccelRequest{AccelKVM, "vm.accel"}},
		{AccelTCG, "", AccelKVM, AccelRequest{AccelTCG, "$UKBENCH_ACCEL"}},
		{AccelTCG, AccelKVM, AccelAuto, AccelRequest{AccelKVM, "--accel"}},
		{"", AccelTCG, "", AccelRequest{AccelTCG, "--accel"}},
	} {
		t.Setenv(EnvAccel, tc.env)
		if got := WantedAccel(tc.flag, tc.config); got != tc.want {
			t.Errorf("env %q flag %q config %q = %+v, want %+v", tc.env, tc.flag, tc.config, got, tc.want)
		}
	}
	err := AccelRequest{"hvf", "$UKBENCH_ACCEL"}.Validate()
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), `$UKBENCH_ACCEL: "hvf": want auto, kvm or tcg`) {
		t.Errorf("bad value: %v, want ErrInvalidConfig naming the source", err)
	}
}

// TestProbeGuestRunsUnderTCG boots the real probe guest with the real QEMU,
// under TCG (which every host has): the bytes do what the marker says.
func TestProbeGuestRunsUnderTCG(t *testing.T) {
	testbin.NeedQEMU(t)
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatal(err)
	}
	failure, cacheable, err := runProbeGuest(context.Background(), qemu, AccelTCG)
	if err != nil || failure != "" || !cacheable {
		t.Fatalf("probe guest under TCG: %q, %v", failure, err)
	}
}

// TestProbeGuestMatchesItsSource assembles testdata/probeguest.S with
// binutils and compares it with the bytes ukbench boots.
func TestProbeGuestMatchesItsSource(t *testing.T) {
	for _, tool := range []string{"as", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			testbin.SkipOrFail(t, tool+" (binutils) not installed: cannot assemble testdata/probeguest.S")
		}
	}
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "probe.o"), filepath.Join(dir, "probe.bin")
	for _, c := range [][]string{{"as", "--64", "-o", obj, "testdata/probeguest.S"}, {"objcopy", "-O", "binary", "-j", ".text", obj, bin}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	got, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, probeGuest[:]) {
		t.Errorf("probeguest.go's bytes differ from testdata/probeguest.S assembled (%d bytes): regenerate them", len(got))
	}
	if probeGuest[510] != 0x55 || probeGuest[511] != 0xaa {
		t.Error("no boot signature")
	}
}
