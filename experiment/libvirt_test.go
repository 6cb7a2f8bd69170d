package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/libvirtd"
	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/vm"
)

// libvirtCampaign is a campaign of the Linux guest (the workloads given)
// with vm: backend and uri as given (backend "" is the direct launcher).
func libvirtCampaign(t *testing.T, name, backend, uri, accel, workloads string) *Config {
	t.Helper()
	shape := "  network: user\n  memory_mib: 512\n  accel: " + accel + "\n"
	if backend != "" {
		shape += fmt.Sprintf("  backend: %s\n  uri: %q\n", backend, uri)
	}
	yaml := fmt.Sprintf("name: %s\nrepeats: 1\nvm:\n%stargets:\n  - {name: linux, kind: linux}\nworkloads:\n%s", name, shape, workloads)
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const (
	dnsWorkload  = "  - {kind: dns, rates: \"200,400\", step: 1s, warmup: 500ms}\n"
	httpWorkload = "  - {kind: http, rates: \"20,40\", step: 1s, warmup: 500ms}\n"
)

// runCampaign runs cfg into a new directory and returns its runs and
// manifest.
func runCampaign(t *testing.T, cfg *Config, events func(Event)) (Summary, []results.Run, *Manifest) {
	t.Helper()
	out := t.TempDir()
	sum, err := Run(context.Background(), cfg, Options{OutDir: out, Binary: testBinary, Version: "test", Events: events})
	if err != nil && sum.Failed == 0 {
		t.Fatal(err)
	}
	runs, rerr := results.ReadRuns(out)
	if rerr != nil {
		t.Fatal(rerr)
	}
	man, merr := readManifest(filepath.Join(out, results.ManifestFile))
	if merr != nil {
		t.Fatal(merr)
	}
	return sum, runs, man
}

// TestLibvirtBackend boots the Linux guest through a libvirt daemon the
// test starts, over the local socket and over SSH, under TCG (the
// accelerator probed on the libvirt host for qemu:///system), has it
// answer DNS and HTTP, and compares its run records with the direct
// launcher's.
func TestLibvirtBackend(t *testing.T) {
	needQEMU(t)
	libvirtd.Start(t)
	direct := func() []results.Run {
		_, runs, _ := runCampaign(t, libvirtCampaign(t, "direct", "", "", "tcg", dnsWorkload), nil)
		logBoot(t, "direct", runs)
		return runs
	}()
	for _, tc := range []struct{ name, uri, accel string }{
		{"system", libvirtd.SystemURI, "auto"},
		{"ssh", "", "tcg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uri := tc.uri
			if uri == "" {
				uri = libvirtd.SSHURI(t)
			}
			sum, runs, man := runCampaign(t, libvirtCampaign(t, "lv"+tc.name, "libvirt", uri, tc.accel, dnsWorkload+httpWorkload), nil)
			if sum.Done != 2 || sum.Failed != 0 {
				t.Fatalf("summary %+v, runs %+v", sum, runs)
			}
			logBoot(t, "libvirt "+tc.name, runs)
			for _, r := range runs {
				if r.Error != "" || r.Accel != "tcg" || len(r.Steps) != 2 {
					t.Errorf("%s: error %q, accel %q, %d steps", r.Workload, r.Error, r.Accel, len(r.Steps))
				}
				// Whether each rate held is the shared machine's business
				// (TCG, 2 cores); that the guest answers through the
				// network is the backend's.
				var answered uint64
				for _, s := range r.Steps {
					answered += s.Answered
				}
				if answered == 0 {
					t.Errorf("%s: no answers through the network: %+v", r.Workload, r.Steps)
				}
				if b := r.Boot; b == nil || b.QEMUStartMS <= 0 || b.ConsoleReadyMS <= b.QEMUStartMS || b.FirstAnswerMS < b.ConsoleReadyMS {
					t.Errorf("%s: boot figures %+v", r.Workload, r.Boot)
				}
				if r.Memory == nil || r.Memory.QEMURSSKiB <= 0 || r.Memory.QEMURSSAfterKiB <= 0 {
					t.Errorf("%s: memory %+v: want DomainMemoryStats' rss after boot and load", r.Workload, r.Memory)
				}
			}
			// The same record as the direct launcher's: every field it
			// writes is written (QEMU's peak RSS aside: libvirt has none).
			if missing := missingFields(direct[0], runs[0], "memory.qemu_hwm_kib"); len(missing) > 0 {
				t.Errorf("libvirt run record lacks the direct launcher's fields %v", missing)
			}
			p := man.Provenance
			if p.Backend != "libvirt" || p.Libvirt == nil || p.Libvirt.Error != "" || p.Libvirt.LibvirtVersion == "" || p.Libvirt.QEMUVersion == "" || p.Libvirt.Kernel == "" || p.Accel != "tcg" {
				t.Errorf("manifest provenance: backend %q libvirt %+v accel %q", p.Backend, p.Libvirt, p.Accel)
			}
			if strings.Contains(p.Libvirt.URI, "root@") {
				t.Errorf("manifest keeps the URI's user: %s", p.Libvirt.URI)
			}
			if tc.accel == "auto" && (p.AccelProbe == nil || !strings.Contains(p.AccelReason, "libvirt host")) {
				t.Errorf("auto: reason %q: want the libvirt host's verdict", p.AccelReason)
			}
			noDomains(t, "ukbench-lv"+tc.name+"-")
			if tc.name == "ssh" {
				hostKeyChecked(t, uri)
			}
		})
	}
}

// logBoot logs the runs' boot figures and QEMU memory (BENCHMARKS.md
// quotes them: each backend's, the same minute).
func logBoot(t *testing.T, backend string, runs []results.Run) {
	for _, r := range runs {
		if r.Boot != nil && r.Memory != nil {
			t.Logf("%s %s: launch %.1f ms, qemu start %.1f ms, console ready %.0f ms, first answer %.0f ms, QEMU RSS %d KiB after boot, %d after load",
				backend, r.Workload, r.Boot.LaunchMS, r.Boot.QEMUStartMS, r.Boot.ConsoleReadyMS, r.Boot.FirstAnswerMS, r.Memory.QEMURSSKiB, r.Memory.QEMURSSAfterKiB)
		}
	}
}

// hostKeyChecked connects through uri with a known_hosts file that holds
// another key for the host (the client's own): the connection is refused.
func hostKeyChecked(t *testing.T, uri string) {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	pub, err := os.ReadFile(q.Get("keyfile") + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(wrong, []byte(fmt.Sprintf("[%s]:%s %s %s\n", u.Hostname(), u.Port(), f[0], f[1])), 0o600)
	q.Set("known_hosts", wrong)
	u.RawQuery = q.Encode()
	if _, err := vm.DescribeLibvirtHost(u.String()); err == nil || !strings.Contains(err.Error(), "key") {
		t.Errorf("a host key not in known_hosts: %v, want the connection refused", err)
	}
}

// TestLibvirtDaemonKilledMidRun kills libvirtd during the first load
// step and starts it again: the run fails with ErrLibvirtLost's words and
// is recorded, and once the daemon is back no guest is left.
func TestLibvirtDaemonKilledMidRun(t *testing.T) {
	needQEMU(t)
	d := libvirtd.Start(t)
	if !d.Owned() {
		// Decided here, on the test's goroutine: the kill happens in an
		// event callback, where a skip cannot.
		t.Skip("libvirtd was already running, not started by this test: it kills only a daemon of its own")
	}
	cfg := libvirtCampaign(t, "lvkill", "libvirt", libvirtd.SystemURI, "tcg", "  - {kind: dns, rates: \"200,200,200\", step: 2s, warmup: 0s}\n")
	killed := make(chan struct{})
	sum, runs, _ := runCampaign(t, cfg, func(e Event) {
		if e.Kind == StepDone && e.Step != nil {
			select {
			case <-killed:
			default:
				close(killed)
				if err := d.Kill(); err != nil {
					t.Error(err)
				}
				if err := d.Restart(t); err != nil {
					t.Error(err) // t.Error, not t.Fatal: maybe off the test's goroutine
				}
			}
		}
	})
	if sum.Failed != 1 || len(runs) != 1 {
		t.Fatalf("summary %+v, runs %d: want the one run recorded as failed", sum, len(runs))
	}
	if r := runs[0]; !strings.Contains(r.Error, "libvirt connection lost") || len(r.Steps) == 0 {
		t.Errorf("run error %q, %d steps: want the lost connection named and the finished steps kept", r.Error, len(r.Steps))
	}
	t.Logf("recorded: %s", runs[0].Error)
	noDomains(t, "ukbench-lvkill-")
}

// noDomains checks the daemon runs no domain named with prefix, and no
// QEMU process here runs one.
func noDomains(t *testing.T, prefix string) {
	t.Helper()
	out, err := exec.Command("virsh", "-c", libvirtd.SystemURI, "list", "--all", "--name").CombinedOutput()
	if err != nil {
		t.Fatalf("virsh list: %v: %s", err, out)
	}
	if strings.Contains(string(out), prefix) {
		t.Errorf("domains left: %s", out)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "guest="+prefix) {
			t.Errorf("QEMU left running: %s: %s", p, strings.ReplaceAll(string(b), "\x00", " ")[:120])
		}
	}
}

// missingFields lists the JSON fields of want's record (dotted paths)
// that got lacks, but those ignored.
func missingFields(want, got results.Run, ignore ...string) []string {
	w, g := fields(want), fields(got)
	skip := map[string]bool{}
	for _, i := range ignore {
		skip[i] = true
	}
	var missing []string
	for f := range w {
		if !g[f] && !skip[f] && !strings.HasPrefix(f, "steps.") {
			missing = append(missing, f)
		}
	}
	return missing
}

func fields(r results.Run) map[string]bool {
	b, _ := json.Marshal(r)
	var m map[string]any
	json.Unmarshal(b, &m)
	out := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		out[prefix] = true
		if o, ok := v.(map[string]any); ok {
			for k, x := range o {
				walk(strings.TrimPrefix(prefix+"."+k, "."), x)
			}
		}
	}
	for k, v := range m {
		walk(k, v)
	}
	return out
}

// TestLibvirtGuestDiesWithUkbench SIGKILLs a `ukbench boot` whose guest
// runs under libvirt: the daemon destroys the domain (auto-destroy on the
// connection's close), so no QEMU outlives ukbench there either.
func TestLibvirtGuestDiesWithUkbench(t *testing.T) {
	needQEMU(t)
	libvirtd.Start(t)
	target := filepath.Join(t.TempDir(), "linux.yaml")
	os.WriteFile(target, []byte("name: linux\nkind: linux\napp: dns\nvm: {network: user, memory_mib: 512, accel: tcg, backend: libvirt, uri: \"qemu:///system\"}\n"), 0o644)
	cmd := exec.Command(testBinary, "boot", target, "--runs", "1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := vm.StartPinned(cmd, nil); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() { cmd.Process.Kill(); <-exited }()
	prefix := fmt.Sprintf("ukbench-boot-linux-boot1-%d-", cmd.Process.Pid)
	if !pollDomains(t, prefix, true, exited) {
		t.Fatalf("no domain %s* appeared", prefix)
	}
	cmd.Process.Kill()
	<-exited
	if !pollDomains(t, prefix, false, nil) {
		t.Fatalf("domain %s* still runs after ukbench was SIGKILLed", prefix)
	}
	noDomains(t, prefix)
}

// pollDomains polls the daemon's domain list (libvirt has no wait for
// it) until a domain named with prefix is there (want) or gone (!want),
// for up to 2 minutes or until stop closes.
func pollDomains(t *testing.T, prefix string, want bool, stop <-chan struct{}) bool {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("virsh", "-c", libvirtd.SystemURI, "list", "--name").Output()
		if strings.Contains(string(out), prefix) == want {
			return true
		}
		select {
		case <-stop:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}
