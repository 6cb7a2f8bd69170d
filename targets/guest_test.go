package targets

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/targets/linuximage"
	"github.com/ukbench/ukbench/targets/osvimage"
	"github.com/ukbench/ukbench/vm"
)

func processGone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

// bootAndCheck boots spec, checks its figures and a few answers, runs the
// further checks while it runs, stops it and checks nothing is left.
func bootAndCheck(t *testing.T, spec Spec, checks ...func(*testing.T, *Instance)) *Instance {
	t.Helper()
	return bootAndCheckBinary(t, spec, testBinary, checks...)
}

// bootAndCheckBinary is bootAndCheck with the given ukbench in the guest.
func bootAndCheckBinary(t *testing.T, spec Spec, binary string, checks ...func(*testing.T, *Instance)) *Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inst, err := Boot(ctx, spec, BootOptions{WorkDir: t.TempDir(), RunID: spec.Label(), Binary: binary, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pid := inst.PID()
	defer func() {
		if err := inst.Stop(context.Background()); err != nil {
			t.Error(err)
		}
		if !processGone(pid) {
			t.Errorf("process %d still running after Stop", pid)
		}
	}()
	for i := 0; i < 5; i++ {
		if err := Probe(ctx, spec.Protocol(), inst.Addr, "", ""); err != nil {
			t.Fatalf("answer %d from %s: %v", i, inst.Addr, err)
		}
	}
	if spec.Protocol() == "dns" {
		// DNS over TCP reaches the same address (one host port forwards
		// both protocols).
		m := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
		c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
		if r, _, err := c.Exchange(m, inst.Addr); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			t.Errorf("DNS over TCP to %s: %v, %v", inst.Addr, r, err)
		}
	}
	if len(spec.HostCPUs) > 0 {
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if want := fmt.Sprintf("Cpus_allowed_list:\t%d\n", spec.HostCPUs[0]); !strings.Contains(string(status), want) {
			t.Errorf("process %d not pinned to CPU %d", pid, spec.HostCPUs[0])
		}
	}
	for _, check := range checks {
		check(t, inst)
	}
	if spec.Kind == KindNative {
		return inst
	}
	b := inst.Boot
	if b == nil || b.QEMUStartMS <= 0 || b.ConsoleReadyMS < b.QEMUStartMS || b.FirstAnswerMS < b.ConsoleReadyMS {
		t.Errorf("boot figures out of order: %+v", b)
	}
	if inst.Accel != "tcg" && inst.Accel != "kvm" {
		t.Errorf("accel = %q", inst.Accel)
	}
	mem, err := inst.Memory()
	if err != nil || mem.QEMURSSKiB < 10_000 {
		t.Errorf("memory = %+v, %v", mem, err)
	}
	if spec.Kind == KindLinux && b.Path != linuximage.BootPVH && b.Path != linuximage.BootBzImage {
		t.Errorf("boot path = %q, want pvh or bzimage", b.Path)
	}
	// A busy host must not make the kernel's timer check panic the guest.
	if spec.Kind == KindLinux && !strings.Contains(strings.Join(inst.Command, " "), " no_timer_check ") {
		t.Errorf("command %q: the kernel's command line lacks no_timer_check", inst.Command)
	}
	log, _ := os.ReadFile(inst.ConsoleLog)
	ready := linuximage.ReadyLine(spec.App)
	if spec.Kind == KindOSv && spec.Kernel != "" {
		ready = osvimage.ReadyLine(spec.App)
	}
	if !strings.Contains(string(log), ready) {
		t.Errorf("console log %s lacks the ready line", inst.ConsoleLog)
	}
	t.Logf("%s: accel %s, boot %+v, memory %+v", spec.Label(), inst.Accel, *b, *mem)
	return inst
}

func TestLinuxGuestServesDNSAndHTTPUnderQEMU(t *testing.T) {
	needQEMU(t)
	k := testKernel(t)
	for _, app := range []string{"dns", "http"} {
		t.Run(app, func(t *testing.T) {
			inst := bootAndCheck(t, Spec{Name: "linux-" + app, Kind: KindLinux, App: app, KernelRoot: kernelRoot(k), VM: VMShape{MemoryMiB: 512}}, appChecks[app])
			// Debian's kernel has a PVH entry: it boots without SeaBIOS.
			if inst.Boot.Path != linuximage.BootPVH {
				t.Errorf("boot path %q, want %q (Debian's kernel has CONFIG_PVH)", inst.Boot.Path, linuximage.BootPVH)
			}
		})
	}
}

// appChecks are what each app's answers are checked against: every DNS
// app answers as ukbench's own server does, every HTTP app serves its
// page on a kept-alive connection.
var appChecks = map[string]func(*testing.T, *Instance){
	"dns": checkSameDNSAnswers, "nsd": checkSameDNSAnswers, "bind": checkSameDNSAnswers,
	"http": checkServesPage, "lighttpd": checkServesPage, "apache": checkServesPage,
}

func TestNativeTargetServes(t *testing.T) {
	for _, app := range []string{"dns", "http"} {
		t.Run(app, func(t *testing.T) {
			bootAndCheck(t, Spec{Kind: KindNative, App: app, HostCPUs: []int{0}})
		})
	}
}

// kernelRoot is the unpacked package a Kernel came from.
func kernelRoot(k *linuximage.Kernel) string {
	return strings.TrimSuffix(k.Image, "/boot/"+"vmlinuz-"+k.Version)
}

// TestOSvImageUnderQEMU boots an osv target's image: the disk image the
// user built (UKBENCH_OSV_IMAGE, serving UKBENCH_OSV_APP, default http,
// with UKBENCH_OSV_CMDLINE when set) or, without one, an image directory
// composed from the kernel given (what `ukbench image osv -o DIR` writes,
// then `image: DIR`), serving DNS over UDP and TCP.
func TestOSvImageUnderQEMU(t *testing.T) {
	if os.Getenv(testbin.EnvOSvImage) == "" {
		kernel := testbin.OSvKernel(t)
		needQEMU(t)
		im, err := OSvImage(t.Context(), Spec{Kind: KindOSv, App: "dns", Kernel: kernel}, BootOptions{Binary: testbin.PIE(t), CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		bootAndCheck(t, Spec{Name: "osv-image-dir", Kind: KindOSv, App: "dns", Image: im.Dir, VM: VMShape{MemoryMiB: 512}}, appChecks["dns"])
		return
	}
	img := testbin.OSvImage(t)
	needQEMU(t)
	app := os.Getenv("UKBENCH_OSV_APP")
	if app == "" {
		app = "http"
	}
	bootAndCheck(t, Spec{Kind: KindOSv, App: app, Image: img, Cmdline: os.Getenv("UKBENCH_OSV_CMDLINE")})
}

// TestLinuxGuestRunsHostServers boots the guest with the host's NSD,
// BIND, lighttpd and Apache (copied with their libraries), when the host
// has them, and compares their answers with ukbench's servers'.
func TestLinuxGuestRunsHostServers(t *testing.T) {
	needQEMU(t)
	k := testKernel(t)
	for _, app := range []string{"nsd", "bind", "lighttpd", "apache"} {
		t.Run(app, func(t *testing.T) {
			if _, err := linuximage.HostAppVersion(context.Background(), app); err != nil {
				skipOrFail(t, fmt.Sprintf("%v (make test installs it)", err))
			}
			inst := bootAndCheck(t, Spec{Name: "linux-" + app, Kind: KindLinux, App: app, KernelRoot: kernelRoot(k), VM: VMShape{MemoryMiB: 512}}, appChecks[app])
			if app := fileOfRole(inst.Files, "app"); app == nil || app.Version == "" {
				t.Errorf("files %+v: no app with its version", inst.Files)
			}
		})
	}
}

func fileOfRole(files []File, role string) *File {
	for i := range files {
		if files[i].Role == role {
			return &files[i]
		}
	}
	return nil
}

// TestLinuxGuestUnderKVM boots with the accelerator forced to KVM; it
// needs a KVM that runs guests (the probe's verdict), which this project's
// CI machines do not have.
func TestLinuxGuestUnderKVM(t *testing.T) {
	needQEMU(t)
	if p, err := vm.ProbeKVM(context.Background(), "qemu-system-x86_64"); err != nil {
		t.Fatal(err)
	} else if !p.Usable {
		t.Skipf("KVM cannot run guests here (%s): the KVM path is covered by vm's probe and argument tests", p.Reason)
	}
	k := testKernel(t)
	inst := bootAndCheck(t, Spec{Name: "linux-kvm", Kind: KindLinux, App: "dns", KernelRoot: kernelRoot(k), VM: VMShape{Accel: "kvm", MemoryMiB: 512}})
	if inst.Accel != "kvm" {
		t.Errorf("accel = %q, want kvm", inst.Accel)
	}
}

// TestOSvComposedUnderQEMU composes OSv guests from the kernel in
// UKBENCH_OSV_KERNEL (the user's: the project holds none) for each app and
// boots them for real.
func TestOSvComposedUnderQEMU(t *testing.T) {
	kernel := testbin.OSvKernel(t)
	needQEMU(t)
	pie := testbin.PIE(t)
	for _, app := range []string{"http", "dns", "lighttpd"} {
		t.Run(app, func(t *testing.T) {
			if app == "lighttpd" {
				if _, err := exec.LookPath(app); err != nil {
					skipOrFail(t, app+" not installed on the host (make deps-apps installs it)")
				}
			}
			bootAndCheckBinary(t, Spec{Name: "osv-" + app, Kind: KindOSv, App: app, Kernel: kernel, Bootstrap: os.Getenv("UKBENCH_OSV_BOOTSTRAP"), VM: VMShape{MemoryMiB: 512}}, pie)
		})
	}
}
