// Package vm launches QEMU guests for benchmarking: a clean device set,
// the serial console captured, QMP on a private unix socket (through
// github.com/digitalocean/go-qemu), host port forwards or a tap device, and a
// lifecycle in which every started QEMU process is shut down and every
// resource released, whatever happens.
package vm

import (
	"errors"
	"fmt"
	"os"
	"strings"
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
	NetNone = "none"
)

// UserGuestIP is the address QEMU's user networking gives the guest.
const UserGuestIP = "10.0.2.15"

// ErrInvalidConfig marks a Config that cannot be launched.
var ErrInvalidConfig = errors.New("invalid VM config")

// Config describes one guest. The zero value of an optional field takes the
// default named in its comment.
type Config struct {
	QEMU      string // qemu-system-x86_64 binary; default "qemu-system-x86_64" from PATH
	Accel     string // auto (default), kvm or tcg
	CPUs      int    // vCPUs; default 1
	MemoryMiB int    // guest memory; default 1024
	Machine   string // pc (default), q35 or microvm
	// Boot from a kernel (Kernel, optional Initrd and Append) or from Disk.
	Kernel string
	Initrd string
	Append string
	// Disk is attached as virtio-blk with snapshot=on: the file is never
	// written. DiskFormat is raw or qcow2 (default: QEMU probes, which it
	// allows read-only for a snapshot).
	Disk       string
	DiskFormat string
	NIC        string // NIC model; default virtio-net-pci (virtio-net-device on microvm)
	Net        Network
	// ConsoleLog is the file the serial console is written to (required).
	ConsoleLog string
	// HostCPUs, when set, confines QEMU (all its threads) to these host CPUs.
	HostCPUs []int
	// Powerdown makes Shutdown ask the guest to power off (ACPI,
	// system_powerdown) and wait for it before quitting QEMU, for guests
	// that must shut down cleanly. Off by default: ukbench's guests hold
	// nothing to save and their disks are snapshots.
	Powerdown bool
	// ExtraArgs are appended to QEMU's command line as they are.
	ExtraArgs []string
}

// Network is the guest's network.
type Network struct {
	Mode string // user (default), tap or none
	// Forwards are the guest ports reachable from the host (user mode):
	// each gets a free port on 127.0.0.1. HostPort 0 means "pick one".
	Forwards []Forward
	// Bridge is the existing bridge a tap device is attached to (tap mode).
	Bridge string
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
	if c.QEMU == "" {
		c.QEMU = "qemu-system-x86_64"
	}
	if c.Accel == "" {
		c.Accel = AccelAuto
	}
	if c.CPUs == 0 {
		c.CPUs = 1
	}
	if c.MemoryMiB == 0 {
		c.MemoryMiB = 1024
	}
	if c.Machine == "" {
		c.Machine = "pc"
	}
	if c.NIC == "" {
		c.NIC = "virtio-net-pci"
		if c.Machine == "microvm" {
			c.NIC = "virtio-net-device"
		}
	}
	if c.Net.Mode == "" {
		c.Net.Mode = NetUser
	}
	if c.Net.MAC == "" {
		c.Net.MAC = "52:54:00:12:34:56"
	}
	return c
}

// Validate reports the first problem with c, naming the field.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	switch c.Accel {
	case AccelAuto, AccelKVM, AccelTCG:
	default:
		return bad("accel", "%q: want auto, kvm or tcg", c.Accel)
	}
	if c.CPUs < 1 || c.CPUs > 255 {
		return bad("cpus", "%d: want 1 to 255", c.CPUs)
	}
	if c.MemoryMiB < 32 {
		return bad("memory_mib", "%d: want at least 32", c.MemoryMiB)
	}
	switch c.Machine {
	case "pc", "q35", "microvm":
	default:
		return bad("machine", "%q: want pc, q35 or microvm", c.Machine)
	}
	if (c.Kernel == "") == (c.Disk == "") {
		return bad("kernel/disk", "give exactly one of a kernel or a disk image")
	}
	for field, path := range map[string]string{"kernel": c.Kernel, "initrd": c.Initrd, "disk": c.Disk} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return bad(field, "%v", err)
		}
	}
	if c.Disk != "" && c.Initrd != "" {
		return bad("initrd", "only with a kernel")
	}
	switch c.DiskFormat {
	case "", "raw", "qcow2":
	default:
		return bad("disk_format", "%q: want raw or qcow2", c.DiskFormat)
	}
	if c.ConsoleLog == "" {
		return bad("console_log", "required")
	}
	switch c.Net.Mode {
	case NetUser:
		for i, f := range c.Net.Forwards {
			if f.Proto != "tcp" && f.Proto != "udp" {
				return bad(fmt.Sprintf("forwards[%d].proto", i), "%q: want tcp or udp", f.Proto)
			}
			if f.GuestPort < 1 || f.GuestPort > 65535 || f.HostPort < 0 || f.HostPort > 65535 {
				return bad(fmt.Sprintf("forwards[%d]", i), "ports out of range")
			}
		}
	case NetTap:
		if c.Net.Bridge == "" {
			return bad("bridge", "tap networking needs an existing bridge")
		}
		if len(c.Net.Forwards) > 0 {
			return bad("forwards", "only with user networking")
		}
	case NetNone:
	default:
		return bad("network", "%q: want user, tap or none", c.Net.Mode)
	}
	if strings.ContainsAny(c.Net.Tap, ", /") || len(c.Net.Tap) > 15 {
		return bad("tap", "%q: not a valid interface name", c.Net.Tap)
	}
	for _, cpu := range c.HostCPUs {
		if cpu < 0 {
			return bad("host_cpus", "%d: want CPU numbers ≥ 0", cpu)
		}
	}
	return nil
}
