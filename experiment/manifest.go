package experiment

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/targets"
	"github.com/ukbench/ukbench/vm"
)

// Manifest is manifest.json: the config as run, its provenance (DESIGN.md
// rule 6) and the campaign's times.
type Manifest struct {
	Config     *Config `json:"config"`
	ConfigFile string  `json:"config_file"`
	// ConfigSHA is the digest of the config file's bytes when the
	// campaign began; PlanSHA that of the effective plan (the decoded
	// config after --quick, as canonical JSON: plansha.go), which --resume
	// must find unchanged.
	ConfigSHA  string     `json:"config_sha256"`
	PlanSHA    string     `json:"plan_sha256,omitempty"`
	Provenance Provenance `json:"provenance"`
	Started    time.Time  `json:"started"`
	Ended      time.Time  `json:"ended,omitempty"`
	// Sessions lists every start of the campaign (the first and each
	// --resume).
	Sessions []time.Time `json:"sessions"`
	Planned  int         `json:"planned_runs"`
}

// Provenance says what ran where.
type Provenance struct {
	Ukbench    string `json:"ukbench"`
	GoVersion  string `json:"go"`
	HostCPU    string `json:"host_cpu"`
	HostCPUs   int    `json:"host_cpus"`
	HostKernel string `json:"host_kernel"`
	QEMU       string `json:"qemu,omitempty"`
	Accel      string `json:"accel"`
	// AccelReason says why Accel was chosen; AccelProbe is the KVM probe's
	// verdict behind it, when one was made (accel auto or kvm).
	AccelReason string          `json:"accel_reason,omitempty"`
	AccelProbe  *vm.KVMProbe    `json:"accel_probe,omitempty"`
	VM          targets.VMShape `json:"vm"`
	Placement   Placement       `json:"placement"`
	Images      []ImageInfo     `json:"images,omitempty"`
	TCGWarning  string          `json:"tcg_warning,omitempty"`
	// TimerNoise is what the probe of the host's timers on the
	// generator's CPUs found at the start of the latest session.
	TimerNoise *results.TimerNoise `json:"timer_noise,omitempty"`
	// Agents are the generator hosts of a campaign whose load comes from
	// agents: each agent with the binary it ran (copied or found) and its
	// host's timer probe, added as runs start them.
	Agents []results.AgentInfo `json:"agents,omitempty"`

	// Backend launched the guests: direct or libvirt; Libvirt is then
	// the daemon's host (URI without the user name, versions).
	Backend string          `json:"backend"`
	Libvirt *vm.LibvirtHost `json:"libvirt,omitempty"`
}

// ImageInfo names a file a target booted, with its digest.
type ImageInfo struct {
	Target string `json:"target"`
	Role   string `json:"role"` // kernel, initrd, disk
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	// Version and Config are a host server's (role app): its version line
	// and what the config ukbench wrote for it fixes (threads, MPM,
	// workers); Boot a Linux kernel's boot path (pvh or bzimage).
	Version string `json:"version,omitempty"`
	Config  string `json:"config,omitempty"`
	Boot    string `json:"boot_path,omitempty"`
}

func hostProvenance(version, qemu string, accel vm.AccelChoice, shape targets.VMShape, pl Placement) Provenance {
	p := Provenance{Ukbench: version, GoVersion: runtime.Version(), HostCPUs: runtime.NumCPU(), VM: shape, Placement: pl}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				p.HostCPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		p.HostKernel = strings.TrimSpace(string(b))
	}
	p.Backend = shape.WithDefaults().Backend
	if p.Backend == vm.BackendLibvirt {
		h := vm.LibvirtProvenance(shape.URI)
		p.Libvirt, p.QEMU, qemu = &h, h.QEMUVersion, ""
	}
	if qemu != "" {
		p.QEMU = vm.QEMUVersion(qemu)
	}
	p.setAccel(accel)
	return p
}

// setAccel records the accelerator a session chose, and why.
func (p *Provenance) setAccel(c vm.AccelChoice) {
	p.Accel, p.AccelReason, p.AccelProbe, p.TCGWarning = c.Accel, c.Reason, c.Probe, ""
	if c.Probe != nil && p.QEMU == "" {
		p.QEMU = c.Probe.QEMUVersion
	}
	if c.Accel == vm.AccelTCG {
		p.TCGWarning = "QEMU ran under TCG (software emulation, no KVM): guest figures are " + vm.TCGSlowdown + " than under KVM and not comparable with KVM results"
	}
}

func fileInfo(target, role, path string) (ImageInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return ImageInfo{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return ImageInfo{}, err
	}
	return ImageInfo{Target: target, Role: role, File: path, SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n}, nil
}

func writeManifest(path string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		os.Remove(tmp) // a full disk: leave the old manifest, and no half copy
		return err
	}
	return os.Rename(tmp, path)
}

func readManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}
