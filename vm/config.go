// Package vm launches QEMU guests for benchmarking: a clean device set,
// the serial console captured, QMP on a private unix socket (through
// github.com/digitalocean/go-qemu), host port forwards or a tap device, and a
// lifecycle in which every started QEMU process is shut down and every
// resource released, whatever happens.
package vm

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"

	"github.com/ukbench/ukbench/internal/fielderr"
)

// Accelerators.
const (
	AccelAuto = "auto" // kvm when it ran the probe guest (ProbeKVM), else tcg
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// Network modes.
const (
	NetUser = "user" // QEMU user networking, forwards bound to 127.0.0.1
	NetTap  = "tap"  // a tap device on a bridge
)

// UserGuestIP is the address QEMU's user networking gives the guest.
const UserGuestIP = "10.0.2.15"

// ErrInvalidConfig marks a Config that cannot be launched.
var ErrInvalidConfig = errors.New("invalid VM config")

// Shape is a guest's hardware and network: what every guest target of an
// experiment shares (the vm: section of a config file, and of
// manifest.json; those names are a contract). The zero value of a field
// takes the default WithDefaults names.
type Shape struct {
	QEMU      string `yaml:"qemu" json:"qemu,omitempty"`   // qemu-system-x86_64 binary; default "qemu-system-x86_64" from PATH
	Accel     string `yaml:"accel" json:"accel,omitempty"` // auto (default), kvm or tcg
	CPUs      int    `yaml:"cpus" json:"cpus"`             // vCPUs; default 1
	MemoryMiB int    `yaml:"memory_mib" json:"memory_mib"` // guest memory; default 1024
	Machine   string `yaml:"machine" json:"machine"`       // pc (default), q35 or microvm
	NIC       string `yaml:"nic" json:"nic"`               // NIC model; default virtio-net-pci (virtio-net-device on microvm)
	Network   string `yaml:"network" json:"network"`       // user (default) or tap
	// Bridge is the existing bridge a tap device is attached to (tap
	// networking). GuestIP (address with prefix length) and Gateway (the
	// host's address on the bridge) are the guest's own settings under tap
	// networking: its kernel command line or init sets them, not QEMU.
	Bridge  string `yaml:"bridge" json:"bridge,omitempty"`
	GuestIP string `yaml:"guest_ip" json:"guest_ip,omitempty"`
	Gateway string `yaml:"gateway" json:"gateway,omitempty"`
	// Powerdown makes Shutdown ask the guest to power off (ACPI,
	// system_powerdown) and wait for it before quitting QEMU, for guests
	// that must shut down cleanly. Off by default: ukbench's guests hold
	// nothing to save and their disks are snapshots.
	Powerdown bool `yaml:"powerdown" json:"powerdown,omitempty"`
	// Backend launches the guests: direct (default: ukbench runs QEMU
	// itself) or libvirt (a libvirt daemon at URI runs them, on this host
	// or another: qemu:///system, qemu+ssh://user@host/system,
	// qemu+tcp://host/system).
	Backend string `yaml:"backend" json:"backend,omitempty"`
	URI     string `yaml:"uri" json:"uri,omitempty"`
}

// WithDefaults returns s with defaults filled in: 1 vCPU, 1024 MiB, pc,
// virtio-net-pci, user networking, accelerator auto.
func (s Shape) WithDefaults() Shape {
	if s.QEMU == "" {
		s.QEMU = "qemu-system-x86_64"
	}
	if s.Accel == "" {
		s.Accel = AccelAuto
	}
	if s.CPUs == 0 {
		s.CPUs = 1
	}
	if s.MemoryMiB == 0 {
		s.MemoryMiB = 1024
	}
	if s.Machine == "" {
		s.Machine = "pc"
	}
	if s.NIC == "" {
		s.NIC = "virtio-net-pci"
		if s.Machine == "microvm" {
			s.NIC = "virtio-net-device"
		}
	}
	if s.Network == "" {
		s.Network = NetUser
	}
	if s.Backend == "" {
		s.Backend = BackendDirect
	}
	return s
}

// Validate reports the first problem with the shape (defaults filled) as
// a *fielderr.Error naming its field (cpus, network, ...).
func (s Shape) Validate() error {
	s = s.WithDefaults()
	switch s.Network {
	case NetUser:
		if s.Bridge != "" || s.GuestIP != "" {
			return fielderr.Errorf("bridge/guest_ip", "only with network: tap")
		}
	case NetTap:
		if s.Bridge == "" {
			return fielderr.Errorf("bridge", "network tap needs an existing bridge")
		}
		if _, _, err := net.ParseCIDR(s.GuestIP); err != nil {
			return fielderr.Errorf("guest_ip", "%q: want ADDRESS/PREFIX (e.g. 10.77.0.2/24)", s.GuestIP)
		}
		if s.Gateway != "" && net.ParseIP(s.Gateway) == nil {
			return fielderr.Errorf("gateway", "%q: not an IP address", s.Gateway)
		}
	default:
		return fielderr.Errorf("network", "%q: want user or tap", s.Network)
	}
	if err := validAccel("accel", s.Accel); err != nil {
		return err
	}
	if s.CPUs < 1 || s.CPUs > 255 {
		return fielderr.Errorf("cpus", "%d: want 1 to 255", s.CPUs)
	}
	if s.MemoryMiB < 32 {
		return fielderr.Errorf("memory_mib", "%d: want at least 32", s.MemoryMiB)
	}
	switch s.Machine {
	case "pc", "q35", "microvm":
	default:
		return fielderr.Errorf("machine", "%q: want pc, q35 or microvm", s.Machine)
	}
	if !nicModelRE.MatchString(s.NIC) {
		return fielderr.Errorf("nic", "%q: want a QEMU NIC model name such as virtio-net-pci or e1000 (lower case letters, digits and '-'; options are ukbench's)", s.NIC)
	}
	if s.Bridge != "" && !ifNameRE.MatchString(s.Bridge) {
		return fielderr.Errorf("bridge", "%q: not a network interface name", s.Bridge)
	}
	if err := fielderr.CheckLine("qemu", s.QEMU); err != nil {
		return err
	}
	switch s.Backend {
	case BackendDirect:
		if s.URI != "" {
			return fielderr.Errorf("uri", "only with backend: libvirt")
		}
	case BackendLibvirt:
		if s.Machine == "microvm" {
			return fielderr.Errorf("machine", "microvm: libvirt has no microvm machine type; use pc or q35")
		}
		if _, err := ParseLibvirtURI(s.URI); err != nil {
			return fielderr.Wrap("uri", err)
		}
		if s.Network == NetUser {
			if u, _ := ParseLibvirtURI(s.URI); !u.Local() {
				return fielderr.Errorf("network", "user networking's forwards listen on the libvirt host's loopback, out of this host's reach at %s: use network: tap with a bridge there", u.Host())
			}
		}
	default:
		return fielderr.Errorf("backend", "%q: want direct or libvirt", s.Backend)
	}
	return nil
}

// nicModelRE is a QEMU NIC model (-device's first word): a name, never
// options (virtio-net-pci,romfile=/etc/shadow).
var nicModelRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// ifNameRE is a Linux network interface name (at most 15 bytes, no '/',
// no white space), kept to the characters bridges are named with.
var ifNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$`)

// Config describes one guest: its Shape, and what it boots. The zero value
// of an optional field takes the default named in its comment.
type Config struct {
	Shape
	// Boot from a kernel (Kernel, optional Initrd and Append) or from Disk;
	// a kernel may have a disk too (OSv's -kernel with its ROFS disk).
	Kernel string
	Initrd string
	Append string
	// Disk is attached as virtio-blk with snapshot=on: the file is never
	// written. DiskFormat is raw or qcow2 (default: QEMU probes, which it
	// allows read-only for a snapshot).
	Disk       string
	DiskFormat string
	// Net is the rest of the network: Shape.Network picks the mode.
	Net Network
	// ConsoleLog is the file the serial console is written to (required).
	ConsoleLog string
	// HostCPUs, when set, confines QEMU (all its threads) to these host CPUs.
	HostCPUs []int
	// ExtraArgs are appended to QEMU's command line as they are.
	ExtraArgs []string
	// Campaign and RunID name a libvirt guest's domain,
	// ukbench-CAMPAIGN-RUNID-PID-N (defaults "boot" and "guest"); the
	// campaign is what finds a dead run's leftovers (LibvirtMachine).
	Campaign string
	RunID    string
}

// Network is what a guest's network needs besides the Shape's mode and
// bridge.
type Network struct {
	// Forwards are the guest ports reachable from the host (user mode):
	// each gets a free port on 127.0.0.1. HostPort 0 means "pick one".
	Forwards []Forward
	// Tap names the tap device (default: ukbtap + a number); QEMU creates
	// it, and it disappears with QEMU.
	Tap string
	// MAC is the guest NIC's address (default 52:54:00:12:34:56).
	MAC string
}

// Forward is one host→guest port forward.
type Forward struct {
	Proto     string // "tcp" or "udp"
	GuestPort int
	HostPort  int // 127.0.0.1:HostPort; chosen at start when 0, shared with an earlier forward of the other protocol to the same GuestPort
}

func (f Forward) String() string {
	return fmt.Sprintf("%s 127.0.0.1:%d->guest:%d", f.Proto, f.HostPort, f.GuestPort)
}

// WithDefaults returns c with defaults filled in.
func (c Config) WithDefaults() Config {
	c.Shape = c.Shape.WithDefaults()
	if c.Net.MAC == "" {
		c.Net.MAC = "52:54:00:12:34:56"
	}
	return c
}

// Validate reports the first problem with c: an error wrapping
// ErrInvalidConfig and a *fielderr.Error that names the field.
func (c Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func (c Config) validate() error {
	c = c.WithDefaults()
	if err := c.Shape.Validate(); err != nil {
		return err
	}
	if c.Kernel == "" && c.Disk == "" {
		return fielderr.Errorf("kernel/disk", "give a kernel, a disk image, or both")
	}
	for field, path := range map[string]string{"kernel": c.Kernel, "initrd": c.Initrd, "disk": c.Disk, "console_log": c.ConsoleLog} {
		if err := fielderr.CheckLine(field, path); err != nil {
			return err
		}
		if path == "" || field == "console_log" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return fielderr.Wrap(field, err)
		}
	}
	if c.Kernel == "" && c.Initrd != "" {
		return fielderr.Errorf("initrd", "only with a kernel")
	}
	switch c.DiskFormat {
	case "", "raw", "qcow2":
	default:
		return fielderr.Errorf("disk_format", "%q: want raw or qcow2", c.DiskFormat)
	}
	if c.ConsoleLog == "" {
		return fielderr.Errorf("console_log", "required")
	}
	if c.Network == NetTap && len(c.Net.Forwards) > 0 {
		return fielderr.Errorf("forwards", "only with user networking")
	}
	for i, f := range c.Net.Forwards {
		if f.Proto != "tcp" && f.Proto != "udp" {
			return fielderr.In(fielderr.Errorf("proto", "%q: want tcp or udp", f.Proto), "forwards", fielderr.Index(i))
		}
		if f.GuestPort < 1 || f.GuestPort > 65535 || f.HostPort < 0 || f.HostPort > 65535 {
			return fielderr.In(errors.New("ports out of range"), "forwards", fielderr.Index(i))
		}
	}
	if err := fielderr.CheckLine("append", c.Append); err != nil {
		return err
	}
	if strings.ContainsAny(c.Net.Tap, ", /") || len(c.Net.Tap) > 15 {
		return fielderr.Errorf("tap", "%q: not a valid interface name", c.Net.Tap)
	}
	for _, cpu := range c.HostCPUs {
		if cpu < 0 {
			return fielderr.Errorf("host_cpus", "%d: want CPU numbers ≥ 0", cpu)
		}
	}
	return nil
}

// ExplicitZeros reports a field the config file sets to 0 where 0 means
// nothing (cpus, memory_mib): WithDefaults would take it for "not set"
// and boot the default instead. has says whether the file sets a field of
// the shape.
func (s Shape) ExplicitZeros(has func(field string) bool) error {
	switch {
	case s.CPUs == 0 && has("cpus"):
		return fielderr.Errorf("cpus", "0: want 1 to 255 (leave it out for 1)")
	case s.MemoryMiB == 0 && has("memory_mib"):
		return fielderr.Errorf("memory_mib", "0: want at least 32 (leave it out for 1024)")
	}
	return nil
}
