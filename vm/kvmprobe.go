package vm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ukbench/ukbench/internal/cachedir"
	"github.com/ukbench/ukbench/internal/privdir"
)

// KVMProbe is the accelerator probe's verdict on one host: whether QEMU,
// under KVM with the CPU model ukbench's guests use, ran the probe guest
// (probeguest.go) to its marker. An open /dev/kvm is not enough: a nested
// KVM such as kvm_pvm opens read-write, shows SeaBIOS's prompt, and then
// aborts or hangs every ordinary guest.
type KVMProbe struct {
	Usable bool `json:"usable"`
	// Reason is one plain sentence: what was found and, when KVM is
	// unusable, why.
	Reason string `json:"reason"`
	// Modules are the host's KVM kernel modules (kvm_intel, kvm_amd,
	// kvm_pvm, ...).
	Modules     []string `json:"modules,omitempty"`
	QEMU        string   `json:"qemu,omitempty"` // the binary probed, as found in PATH
	QEMUVersion string   `json:"qemu_version,omitempty"`
	// ProbeMS is how long the probe guest ran when the verdict was made, in
	// milliseconds; 0 when no guest was started (no /dev/kvm).
	ProbeMS float64   `json:"probe_ms"`
	Probed  time.Time `json:"probed,omitzero"` // when the verdict was made
	// Cached says the verdict was read from the cache file, not made now.
	Cached bool `json:"cached"`
	// Key digests what can change the verdict: the boot, the QEMU binary
	// (its path, size and modification time: a new version is a new file),
	// the KVM modules and the probe itself.
	Key string `json:"key,omitempty"`
}

// Seams of the probe; variables so tests can point them elsewhere.
var (
	kvmDevice    = "/dev/kvm"
	bootIDFile   = "/proc/sys/kernel/random/boot_id"
	sysModuleDir = "/sys/module"
	// probeTimeout bounds one run of the probe guest, exec to exit. Under
	// a working KVM it takes well under a second (BENCHMARKS.md); a guest
	// that has not finished by then is not making progress.
	probeTimeout = 10 * time.Second
)

// kvmProbeFile is the probe's cache, in cachedir.Dir(): the last verdict
// and its key.
const kvmProbeFile = "kvm-probe.json"

// probeMemo keeps this process's verdicts by key; probeMu also makes
// concurrent callers wait for one probe instead of starting several.
var (
	probeMu   sync.Mutex
	probeMemo = map[string]KVMProbe{}
)

// ProbeKVM says whether KVM can run guests on this host with qemu (a name
// in PATH or a path). The verdict is made once per key (see KVMProbe.Key)
// and cached in this process and in cachedir.Dir(); making it boots the
// probe guest under KVM for at most probeTimeout. It returns an error only
// when ctx ends, QEMU is missing (ErrNoQEMU) or the probe cannot be set up
// (its private directory or image cannot be written, QEMU cannot be
// started); every other outcome is a verdict with its reason, and one that
// says nothing of KVM (QEMU killed from outside) is not cached. Safe for
// concurrent use.
func ProbeKVM(ctx context.Context, qemu string) (KVMProbe, error) {
	p := KVMProbe{Modules: kvmModules()}
	f, err := os.OpenFile(kvmDevice, os.O_RDWR, 0)
	if err != nil {
		p.Reason = fmt.Sprintf("no usable %s (%v)", kvmDevice, unwrapPath(err))
		return p, nil
	}
	f.Close()
	path, err := exec.LookPath(qemu)
	if err != nil {
		return p, noQEMU(err)
	}
	p.QEMU = path
	p.Key = probeKey(path, p.Modules)

	probeMu.Lock()
	defer probeMu.Unlock()
	if v, ok := probeMemo[p.Key]; ok {
		return v, nil
	}
	if v, ok := readProbeCache(p.Key); ok {
		probeMemo[p.Key] = v
		return v, nil
	}
	p.QEMUVersion = QEMUVersion(path)
	start := time.Now()
	failure, cacheable, err := runProbeGuest(ctx, path, AccelKVM)
	if err != nil {
		return p, err
	}
	p.ProbeMS = float64(time.Since(start).Microseconds()) / 1000
	p.Probed = time.Now().UTC()
	mods := ""
	if len(p.Modules) > 0 {
		mods = " (" + strings.Join(p.Modules, ", ") + ")"
	}
	if failure == "" {
		p.Usable = true
		p.Reason = fmt.Sprintf("KVM%s ran ukbench's probe guest to 64-bit mode with timer interrupts in %.0f ms", mods, p.ProbeMS)
	} else {
		p.Reason = fmt.Sprintf("KVM present%s but unusable: %s", mods, failure)
	}
	if cacheable {
		writeProbeCache(p) // a cache that cannot be written only costs a probe next time
		probeMemo[p.Key] = p
	}
	return p, nil
}

// runProbeGuest boots the probe guest under accel and returns "" when it
// reached its marker and exit, else what went wrong, in a few words from
// QEMU's own messages; cacheable is false when the outcome says nothing of
// the accelerator (QEMU killed from outside). The error is for ctx ending,
// a private directory or image that cannot be written, or a QEMU that
// cannot be started. The guest runs for at most probeTimeout and QEMU never
// outlives the call.
func runProbeGuest(ctx context.Context, qemu, accel string) (failure string, cacheable bool, err error) {
	d, err := privdir.Make("probe")
	if err != nil {
		return "", false, err
	}
	defer d.Remove()
	dir := d.Path
	img := filepath.Join(dir, "probe.img")
	if err := os.WriteFile(img, probeGuest[:], 0o600); err != nil {
		return "", false, err
	}
	cmd := exec.Command(qemu, probeArgs(accel, img)...)
	console, stderr := &tailBuffer{max: 4096}, newAlarmBuffer(4096, kvmInternalError)
	cmd.Stdout, cmd.Stderr = console, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Forked from the spawner thread, as every child (pin.go): a
	// parent-death signal from a thread that exits would kill the probe and
	// make a working KVM look broken.
	if err := StartPinned(cmd, nil); err != nil {
		return "", false, fmt.Errorf("probe: start %s: %w", qemu, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	timer := time.NewTimer(probeTimeout)
	defer timer.Stop()
	var werr error
	killed := false  // by us: the bound passed, KVM gave up or ctx ended
	stopped := false // KVM gave up on the guest: QEMU stopped it and waits
	select {
	case werr = <-waited:
	case <-timer.C:
		killed = true
	case <-stderr.Rang():
		killed, stopped = true, true
	case <-ctx.Done():
		killed = true
	}
	if killed {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its process group
		werr = <-waited
	}
	if ctx.Err() != nil {
		return "", false, context.Cause(ctx)
	}
	sawMarker := strings.Contains(console.String(), probeGuestMarker)
	var exit *exec.ExitError
	switch {
	case stopped:
		return fmt.Sprintf("QEMU stopped the probe guest with %q (last console line: %q)", qemuInternalError(stderr.String()), lastLine(console.String())), true, nil
	case killed:
		return fmt.Sprintf("the probe guest made no progress within %v (last console line: %q)", probeTimeout, lastLine(console.String())), true, nil
	case errors.As(werr, &exit) && exit.ExitCode() == probeGuestExit && sawMarker:
		return "", true, nil
	case werr == nil || (exit != nil && exit.ExitCode() == probeGuestExit):
		return fmt.Sprintf("QEMU exited without the probe guest's marker (last console line: %q)", lastLine(console.String())), true, nil
	case exit != nil:
		how := fmt.Sprintf("exited with status %d", exit.ExitCode())
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			how = "died of signal " + ws.Signal().String()
			switch ws.Signal() {
			case syscall.SIGABRT:
				how = "aborted"
			case syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP:
				// Not ukbench's doing (it kills only past the bound, above):
				// something outside ended the probe, which says nothing of KVM.
				return "QEMU " + how + " from outside ukbench (this verdict is not cached)", false, nil
			}
		}
		return "QEMU " + how + ": " + qemuMessage(stderr.String()), true, nil
	}
	return "", false, fmt.Errorf("probe: %w", werr)
}

// probeArgs is QEMU's command line for the probe guest: the accelerator and
// CPU model of a real guest (accelArg, cpuArg), so the probe tries what the
// guests will run, and the smallest machine around it.
func probeArgs(accel, img string) []string {
	return []string{
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-machine", "pc",
		"-accel", accelArg(accel, 1),
		"-cpu", cpuArg(accel),
		"-smp", "1", "-m", "16M",
		"-serial", "stdio", "-monitor", "none",
		"-device", probeGuestDebugExit,
		"-drive", "file=" + escapeComma(img) + ",format=raw,if=ide,snapshot=on",
	}
}

// qemuInternalError is QEMU's report of a KVM internal error in stderr,
// in one line: "KVM internal error. Suberror: 1" and, when QEMU said it,
// "emulation failure".
func qemuInternalError(stderr string) string {
	_, rest, _ := strings.Cut(stderr, kvmInternalError)
	line, _, _ := strings.Cut(rest, "\n")
	msg := kvmInternalError + strings.TrimSpace(line)
	if strings.Contains(rest, "emulation failure") {
		msg += " (emulation failure)"
	}
	return msg
}

// qemuMessage picks QEMU's most telling stderr line: its first "error:"
// line, else its last line, without the program's prefix.
func qemuMessage(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	pick := lines[len(lines)-1]
	for _, l := range lines {
		if strings.Contains(l, "error:") {
			pick = l
			break
		}
	}
	if i := strings.Index(pick, "error: "); i >= 0 {
		pick = pick[i+len("error: "):]
	} else if _, rest, ok := strings.Cut(pick, ": "); ok && strings.HasPrefix(pick, "qemu-system") {
		pick = rest
	}
	if pick = strings.TrimSpace(pick); pick == "" {
		return "no message"
	}
	return pick
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// qemuVersionTimeout bounds `qemu --version`.
const qemuVersionTimeout = 5 * time.Second

// QEMUVersion is the first line of `qemu --version`, or "" when it cannot
// be run within qemuVersionTimeout.
func QEMUVersion(qemu string) string {
	ctx, cancel := context.WithTimeout(context.Background(), qemuVersionTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, qemu, "--version").Output()
	if err != nil {
		return ""
	}
	return lastLine(strings.SplitN(string(out), "\n", 2)[0])
}

// kvmModules lists the loaded kernel modules whose name starts with kvm
// (kvm itself excluded: it says nothing about which KVM this is).
func kvmModules() []string {
	ents, _ := os.ReadDir(sysModuleDir)
	var mods []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "kvm_") {
			mods = append(mods, n)
		}
	}
	sort.Strings(mods)
	return mods
}

// probeKey digests what can change the verdict: this boot, the QEMU
// binary (path, size, modification time), the KVM device node (a module
// reload makes a new one), the KVM modules with their source versions and
// parameters, and
// the probe guest and its command line. It runs nothing, so a cached
// verdict costs a few file reads.
func probeKey(qemu string, modules []string) string {
	h := sha256.New()
	boot, _ := os.ReadFile(bootIDFile)
	fmt.Fprintf(h, "boot %s\n", bytes.TrimSpace(boot))
	for _, f := range []string{qemu, kvmDevice} {
		if st, err := os.Stat(f); err == nil {
			fmt.Fprintf(h, "file %s %d %d", f, st.Size(), st.ModTime().UnixNano())
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				fmt.Fprintf(h, " %d %d.%d", sys.Ino, sys.Ctim.Sec, sys.Ctim.Nsec)
			}
			fmt.Fprintln(h)
		}
	}
	for _, m := range modules {
		src, _ := os.ReadFile(filepath.Join(sysModuleDir, m, "srcversion"))
		fmt.Fprintf(h, "module %s %s\n", m, bytes.TrimSpace(src))
		params, _ := os.ReadDir(filepath.Join(sysModuleDir, m, "parameters"))
		for _, par := range params { // ReadDir sorts by name
			v, _ := os.ReadFile(filepath.Join(sysModuleDir, m, "parameters", par.Name()))
			fmt.Fprintf(h, "  %s=%s\n", par.Name(), bytes.TrimSpace(v))
		}
	}
	fmt.Fprintf(h, "modules %s\nargs %s\n", strings.Join(modules, ","), strings.Join(probeArgs(AccelKVM, ""), " "))
	h.Write(probeGuest[:])
	return hex.EncodeToString(h.Sum(nil))
}

func probeCachePath() (string, error) {
	d, err := cachedir.Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, kvmProbeFile), nil
}

func readProbeCache(key string) (KVMProbe, bool) {
	path, err := probeCachePath()
	if err != nil {
		return KVMProbe{}, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return KVMProbe{}, false
	}
	var p KVMProbe
	if json.Unmarshal(b, &p) != nil || p.Key != key {
		return KVMProbe{}, false
	}
	p.Cached = true
	return p, true
}

func writeProbeCache(p KVMProbe) {
	path, err := probeCachePath()
	if err != nil {
		return
	}
	if os.MkdirAll(filepath.Dir(path), 0o755) != nil {
		return
	}
	b, _ := json.MarshalIndent(p, "", "  ")
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if os.WriteFile(tmp, append(b, '\n'), 0o644) != nil {
		os.Remove(tmp)
		return
	}
	os.Rename(tmp, path)
}

// unwrapPath drops the path from a *PathError: the caller names the file.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
