package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ukbench/ukbench/internal/privdir"
)

// libvirtProbeMemo keeps this process's verdicts on libvirt hosts, by URI
// and host name; libvirtProbeMu makes concurrent callers wait for one
// probe.
var (
	libvirtProbeMu   sync.Mutex
	libvirtProbeMemo = map[string]KVMProbe{}
)

// resolveLibvirtAccel is ResolveAccel on the libvirt host of s: tcg needs
// nothing; auto and kvm ask the host's capabilities for a kvm domain
// type and, when there is one, boot ukbench's probe guest there under
// KVM, through libvirt, as ProbeKVM does here.
func resolveLibvirtAccel(ctx context.Context, s Shape, r AccelRequest) (AccelChoice, error) {
	return resolveWith(ctx, r, func(ctx context.Context) (KVMProbe, error) {
		u, err := ParseLibvirtURI(s.URI)
		if err != nil {
			return KVMProbe{}, fmt.Errorf("%w: uri: %w", ErrInvalidConfig, err)
		}
		api, err := connectLibvirt(u)
		if err != nil {
			return KVMProbe{}, err
		}
		defer api.Disconnect()
		return probeLibvirtKVM(ctx, api, s)
	})
}

// libvirtAccelOn resolves r on the host api is connected to.
func libvirtAccelOn(ctx context.Context, api libvirtAPI, s Shape, r AccelRequest) (AccelChoice, error) {
	return resolveWith(ctx, r, func(ctx context.Context) (KVMProbe, error) { return probeLibvirtKVM(ctx, api, s) })
}

// probeLibvirtKVM is the KVM verdict on the libvirt host.
func probeLibvirtKVM(ctx context.Context, api libvirtAPI, s Shape) (KVMProbe, error) {
	host, err := api.ConnectGetHostname()
	if err != nil {
		return KVMProbe{}, fmt.Errorf("%w: hostname: %w", ErrLibvirt, err)
	}
	key := s.URI + "\x00" + host
	libvirtProbeMu.Lock()
	defer libvirtProbeMu.Unlock()
	if v, ok := libvirtProbeMemo[key]; ok {
		return v, nil
	}
	p := KVMProbe{QEMU: "libvirt " + host}
	if v, err := api.ConnectGetVersion(); err == nil {
		p.QEMUVersion = libvirtVersion(v)
	}
	caps, err := api.ConnectGetCapabilities()
	if err != nil {
		return p, fmt.Errorf("%w: capabilities: %w", ErrLibvirt, err)
	}
	if !strings.Contains(caps, "<domain type='kvm'") {
		p.Reason = fmt.Sprintf("libvirt host %s offers no kvm domain type (no usable /dev/kvm there)", host)
		libvirtProbeMemo[key] = p
		return p, nil
	}
	start := time.Now()
	failure, err := runLibvirtProbeGuest(ctx, s)
	if err != nil {
		return p, err
	}
	p.ProbeMS = float64(time.Since(start).Microseconds()) / 1000
	p.Probed = time.Now().UTC()
	if failure == "" {
		p.Usable = true
		p.Reason = fmt.Sprintf("KVM on libvirt host %s ran ukbench's probe guest to 64-bit mode with timer interrupts in %.0f ms", host, p.ProbeMS)
	} else {
		p.Reason = fmt.Sprintf("KVM offered by libvirt host %s but unusable: %s", host, failure)
	}
	libvirtProbeMemo[key] = p
	return p, nil
}

// runLibvirtProbeGuest boots the probe guest on the libvirt host under
// KVM (a transient domain as every guest's, its disk uploaded by content
// hash) and returns "" when it printed its marker, else what went wrong.
// The domain never outlives the call.
func runLibvirtProbeGuest(ctx context.Context, s Shape) (string, error) {
	d, err := privdir.Make("probe")
	if err != nil {
		return "", err
	}
	defer d.Remove()
	img := filepath.Join(d.Path, "probe.img")
	if err := writeProbeDisk(img); err != nil {
		return "", err
	}
	shape := Shape{Backend: BackendLibvirt, URI: s.URI, Accel: AccelKVM, CPUs: 1, MemoryMiB: 32, Machine: "pc", QEMU: s.QEMU}
	// No isa-debug-exit: the guest halts after its marker and Shutdown
	// destroys it. A guest that exits at once can lose its last line on
	// the way: QEMU's exit hangs up the console's pty, and the kernel
	// drops what the daemon had not read yet (a busy libvirt host's
	// probe would then find no marker and fall back to TCG).
	cfg := Config{Shape: shape, Disk: img, DiskFormat: "raw", ConsoleLog: filepath.Join(d.Path, "console.log"),
		Campaign: "kvm-probe", RunID: "probe"}
	m, err := NewLibvirt(cfg, nil)
	if err != nil {
		return "", err
	}
	defer m.Shutdown(context.Background())
	marker := m.WatchConsole(probeGuestMarker)
	if err := m.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		if errors.Is(err, ErrLibvirt) && !strings.Contains(err.Error(), "create domain") {
			return "", err
		}
		return "QEMU did not start under KVM: " + relayedQEMUError(err), nil
	}
	wctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := marker.Wait(wctx); err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		last := ""
		if l := m.ConsoleTail(); len(l) > 0 {
			last = l[len(l)-1]
		}
		if wctx.Err() != nil {
			return fmt.Sprintf("the probe guest made no progress within %v (last console line: %q)", probeTimeout, last), nil
		}
		return fmt.Sprintf("QEMU exited without the probe guest's marker (last console line: %q)", last), nil
	}
	return "", nil
}

// probeDiskBytes is the size of the probe guest's disk on a virtio bus:
// SeaBIOS does not boot a virtio-blk disk of one sector.
const probeDiskBytes = 1 << 20

// writeProbeDisk writes the probe guest as a disk SeaBIOS boots from
// virtio-blk: its boot sector, then zeros (sparse) to probeDiskBytes.
func writeProbeDisk(path string) error {
	if err := os.WriteFile(path, probeGuest[:], 0o600); err != nil {
		return err
	}
	return os.Truncate(path, probeDiskBytes)
}

// relayedQEMUError is QEMU's own error line from a libvirt error, which
// relays QEMU's stderr after libvirt's words ("internal error: process
// exited while connecting to monitor: TIME qemu-system-x86_64: error:
// failed to set MSR …").
func relayedQEMUError(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for _, l := range lines {
		if i := strings.Index(l, "qemu-system"); i >= 0 && strings.Contains(l[i:], "error:") {
			return qemuMessage(l[i:])
		}
	}
	return qemuMessage(lines[len(lines)-1])
}
