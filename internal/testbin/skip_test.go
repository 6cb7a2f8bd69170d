package testbin

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records what SkipOrFail and its kin decide for a test of a given
// name; Skip and Fatal end the calling goroutine, as testing's do.
type fakeTB struct {
	testing.TB
	name     string
	verdict  string // "skip: …" or "fail: …"
	cleanups []func()
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Name() string                      { return f.name }
func (f *fakeTB) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Skip(args ...any)                  { f.end("skip: " + fmt.Sprint(args...)) }
func (f *fakeTB) Fatal(args ...any)                 { f.end("fail: " + fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.end("fail: " + fmt.Sprintf(format, args...)) }
func (f *fakeTB) end(v string) {
	f.verdict = v
	runtime.Goexit()
}

// decide runs fn as the body of a test named name and returns its
// verdict ("" when it went through); cleanups run when done is called.
func decide(name string, fn func(testing.TB)) (verdict string, tb *fakeTB) {
	tb = &fakeTB{name: name}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		fn(tb)
	}()
	<-ended
	return tb.verdict, tb
}

func (f *fakeTB) done() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestSkipOrFail(t *testing.T) {
	missing := func(tb testing.TB) { SkipOrFail(tb, "no widget (apt-get install widget)") }

	t.Setenv(EnvRequireQEMU, "")
	if v, _ := decide("TestA", missing); v != "skip: no widget (apt-get install widget)" {
		t.Errorf("without %s: %q, want a skip with the reason", EnvRequireQEMU, v)
	}
	t.Setenv(EnvRequireQEMU, "1")
	if v, _ := decide("TestA", missing); v != "fail: no widget (apt-get install widget) (UKBENCH_REQUIRE_QEMU is set)" {
		t.Errorf("with %s: %q, want a failure with the reason and the switch", EnvRequireQEMU, v)
	}
}

// An OSv test skips without a kernel, whatever UKBENCH_REQUIRE_QEMU says
// (the project holds none); given one, it must run: what else it lacks,
// in it or its subtests, fails it, and other tests are not affected.
func TestOSvKernelMakesItsTestRequired(t *testing.T) {
	t.Setenv(EnvRequireQEMU, "1")
	t.Setenv(EnvOSvKernel, "")
	if v, _ := decide("TestOSv", func(tb testing.TB) { OSvKernel(tb) }); !strings.HasPrefix(v, "skip: no OSv kernel: set UKBENCH_OSV_KERNEL") {
		t.Errorf("no kernel under %s: %q, want a skip naming %s", EnvRequireQEMU, v, EnvOSvKernel)
	}

	t.Setenv(EnvRequireQEMU, "")
	kernel := filepath.Join(t.TempDir(), "loader-stripped.elf")
	os.WriteFile(kernel, []byte("\x7fELF"), 0o644)
	t.Setenv(EnvOSvKernel, kernel)
	got := ""
	v, osv := decide("TestOSv", func(tb testing.TB) { got = OSvKernel(tb) })
	if v != "" || got != kernel {
		t.Fatalf("kernel given: %q, %q; want the kernel's path", v, got)
	}
	want := "fail: qemu missing (UKBENCH_OSV_KERNEL is set: this OSv test must run)"
	for _, name := range []string{"TestOSv", "TestOSv/lighttpd"} {
		if v, _ := decide(name, func(tb testing.TB) { SkipOrFail(tb, "qemu missing") }); v != want {
			t.Errorf("%s lacking QEMU: %q, want %q", name, v, want)
		}
	}
	for _, name := range []string{"TestOSvOther", "TestOther/TestOSv"} {
		if v, _ := decide(name, func(tb testing.TB) { SkipOrFail(tb, "qemu missing") }); v != "skip: qemu missing" {
			t.Errorf("%s (not given the kernel) lacking QEMU: %q, want a skip", name, v)
		}
	}
	osv.done()
	if v, _ := decide("TestOSv", func(tb testing.TB) { SkipOrFail(tb, "qemu missing") }); v != "skip: qemu missing" {
		t.Errorf("after the OSv test ended, a test of its name lacking QEMU: %q, want a skip", v)
	}

	t.Setenv(EnvOSvKernel, filepath.Join(t.TempDir(), "no-such.elf"))
	if v, _ := decide("TestOSv", func(tb testing.TB) { OSvKernel(tb) }); !strings.HasPrefix(v, "fail: UKBENCH_OSV_KERNEL: stat ") {
		t.Errorf("a kernel that is not there: %q, want a failure naming %s", v, EnvOSvKernel)
	}
}
