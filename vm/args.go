package vm

import (
	"fmt"
	"strings"
)

// Args returns QEMU's command line (without the program) for c, with the
// accelerator already resolved and QMP on the unix socket qmpPath. It is a
// pure function: `ukbench run --dry-run` prints it.
func Args(c Config, accel, qmpPath string) []string {
	c = c.WithDefaults()
	a := []string{
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-machine", machineArg(c.Machine),
		"-accel", accelArg(accel, c.CPUs),
		"-cpu", cpuArg(accel),
		"-smp", fmt.Sprint(c.CPUs),
		"-m", fmt.Sprintf("%dM", c.MemoryMiB),
		"-serial", "stdio",
		"-monitor", "none",
		"-qmp", "unix:" + qmpPath + ",server=on,wait=off",
	}
	if c.Kernel != "" {
		a = append(a, "-kernel", c.Kernel)
		if c.Initrd != "" {
			a = append(a, "-initrd", c.Initrd)
		}
		if c.Append != "" {
			a = append(a, "-append", c.Append)
		}
	}
	if c.Disk != "" {
		drive := "file=" + escapeComma(c.Disk) + ",if=none,id=disk0,snapshot=on,cache=unsafe"
		if c.DiskFormat != "" {
			drive += ",format=" + c.DiskFormat
		}
		blk := "virtio-blk-pci"
		if c.Machine == "microvm" {
			blk = "virtio-blk-device"
		}
		a = append(a, "-drive", drive, "-device", blk+",drive=disk0")
	}
	switch c.Network {
	case NetUser:
		a = append(a, "-netdev", userNetdev(c), "-device", nicArg(c))
	case NetTap:
		nd := "tap,id=net0,ifname=" + c.Net.Tap + ",script=no,downscript=no"
		if accel == AccelKVM && vhostNet() {
			nd += ",vhost=on"
		}
		a = append(a, "-netdev", nd, "-device", nicArg(c))
	}
	return append(a, c.ExtraArgs...)
}

// userNetdev is QEMU's user networking with c's host forwards bound to
// 127.0.0.1.
func userNetdev(c Config) string {
	// restrict=on would cut the guest off, but slirp then drops the
	// guest's UDP replies to forwarded ports; the guest starts no traffic.
	nd := "user,id=net0,restrict=off"
	for _, f := range c.Net.Forwards {
		nd += fmt.Sprintf(",hostfwd=%s:127.0.0.1:%d-:%d", f.Proto, f.HostPort, f.GuestPort)
	}
	return nd
}

func machineArg(machine string) string {
	switch machine {
	case "microvm":
		return "microvm,x-option-roms=off,isa-serial=on,rtc=on"
	}
	return machine
}

func accelArg(accel string, cpus int) string {
	if accel == AccelTCG && cpus > 1 {
		return "tcg,thread=multi"
	}
	return accel
}

// cpuArg: the host's CPU under KVM; under TCG the emulator's richest model.
func cpuArg(accel string) string {
	if accel == AccelKVM {
		return "host"
	}
	return "max"
}

func escapeComma(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// nicArg is the NIC device; PCI NICs get no option ROM (iPXE), which the
// guests never use and which slows every boot.
func nicArg(c Config) string {
	d := c.NIC + ",netdev=net0,mac=" + c.Net.MAC
	if pciNIC(c.NIC) {
		d += ",romfile="
	}
	return d
}

// pciNIC says whether a NIC model is a PCI device.
func pciNIC(nic string) bool {
	return strings.HasSuffix(nic, "-pci") || nic == "e1000" || nic == "rtl8139"
}
