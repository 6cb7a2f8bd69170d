package vm

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// libvirtNS is the namespace of ukbench's element in a domain's
// <metadata>: what marks a domain as ukbench's own.
const libvirtNS = "https://github.com/ukbench/ukbench/libvirt/1"

// qemuNS is libvirt's namespace for <qemu:commandline>.
const qemuNS = "http://libvirt.org/schemas/domain/qemu/1.0"

// domainOwner is ukbench's metadata element: which campaign's guest this
// is, and which process on which host (this boot of it) started it, so a
// later start can tell a dead owner's leftovers from a live one's guests.
type domainOwner struct {
	XMLName  xml.Name  `xml:"run"`
	Campaign string    `xml:"campaign,attr"`
	Host     string    `xml:"host,attr"`
	PID      int       `xml:"pid,attr"`
	BootID   string    `xml:"boot_id,attr"`
	Started  time.Time `xml:"started,attr"`
}

// element is the owner as the <metadata> child (with libvirt's
// namespace prefix, which it keeps).
func (o domainOwner) element() string {
	return fmt.Sprintf(`<ukbench:run xmlns:ukbench=%s campaign=%s host=%s pid="%d" boot_id=%s started=%s/>`,
		attr(libvirtNS), attr(o.Campaign), attr(o.Host), o.PID, attr(o.BootID), attr(o.Started.UTC().Format(time.RFC3339Nano)))
}

// parseOwner reads the element DomainGetMetadata returns: libvirt
// returns it without its namespace (it was asked for by namespace), the
// domain XML with it.
func parseOwner(s string) (domainOwner, error) {
	var o domainOwner
	if err := xml.Unmarshal([]byte(s), &o); err != nil {
		return o, fmt.Errorf("ukbench metadata: %w", err)
	}
	if o.XMLName.Space != libvirtNS && o.XMLName.Space != "" {
		return o, fmt.Errorf("ukbench metadata: element %s in namespace %q", o.XMLName.Local, o.XMLName.Space)
	}
	o.XMLName = xml.Name{}
	return o, nil
}

// guestFiles are the paths on the libvirt host of the files a guest boots.
type guestFiles struct{ Kernel, Initrd, Disk string }

// DomainXML is the transient domain libvirt boots for c: the same guest
// as Args's QEMU command line (machine, CPU model, memory, vCPUs, kernel
// and command line or disk, NIC, serial console), under accel (kvm or
// tcg: type='kvm' or 'qemu'), named name, owned by owner. The disk is
// <transient/>: QEMU writes to an overlay libvirt deletes, never to the
// image. User networking, which libvirt has no element for with host
// forwards, and c.ExtraArgs go in <qemu:commandline>. HostCPUs pin every
// vCPU and the emulator threads through <cputune>. A pure function.
func DomainXML(c Config, accel, name string, files guestFiles, owner domainOwner) []byte {
	c = c.WithDefaults()
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	typ := "qemu"
	if accel == AccelKVM {
		typ = "kvm"
	}
	w(`<domain type=%s xmlns:qemu=%s>`, attr(typ), attr(qemuNS))
	w(`  <name>%s</name>`, text(name))
	w(`  <metadata>%s</metadata>`, owner.element())
	w(`  <memory unit='MiB'>%d</memory>`, c.MemoryMiB)
	w(`  <vcpu placement='static'>%d</vcpu>`, c.CPUs)
	if len(c.HostCPUs) > 0 {
		set := cpuList(c.HostCPUs)
		w(`  <cputune>`)
		for i := 0; i < c.CPUs; i++ {
			w(`    <vcpupin vcpu='%d' cpuset=%s/>`, i, attr(set))
		}
		w(`    <emulatorpin cpuset=%s/>`, attr(set))
		w(`  </cputune>`)
	}
	w(`  <os>`)
	w(`    <type arch='x86_64' machine=%s>hvm</type>`, attr(c.Machine))
	if c.Kernel != "" {
		w(`    <kernel>%s</kernel>`, text(files.Kernel))
		if c.Initrd != "" {
			w(`    <initrd>%s</initrd>`, text(files.Initrd))
		}
		if c.Append != "" {
			w(`    <cmdline>%s</cmdline>`, text(c.Append))
		}
	} else {
		w(`    <boot dev='hd'/>`)
	}
	w(`  </os>`)
	w(`  <features><acpi/></features>`)
	if accel == AccelKVM {
		w(`  <cpu mode='host-passthrough'/>`) // -cpu host, as Args
	} else {
		w(`  <cpu mode='maximum'/>`) // -cpu max, as Args
	}
	w(`  <clock offset='utc'/>`)
	// -no-reboot: a guest that reboots or crashes is gone, as it is
	// under the direct launcher.
	w(`  <on_poweroff>destroy</on_poweroff>`)
	w(`  <on_reboot>destroy</on_reboot>`)
	w(`  <on_crash>destroy</on_crash>`)
	w(`  <devices>`)
	if filepath.IsAbs(c.QEMU) {
		w(`    <emulator>%s</emulator>`, text(c.QEMU))
	}
	if c.Disk != "" {
		format := c.DiskFormat // NewLibvirt requires it
		w(`    <disk type='file' device='disk'>`)
		w(`      <driver name='qemu' type=%s cache='unsafe'/>`, attr(format))
		w(`      <source file=%s/>`, attr(files.Disk))
		w(`      <target dev='vda' bus='virtio'/>`)
		w(`      <transient/>`)
		w(`    </disk>`)
	}
	if c.Network == NetTap {
		w(`    <interface type='bridge'>`)
		w(`      <source bridge=%s/>`, attr(c.Bridge))
		w(`      <mac address=%s/>`, attr(c.Net.MAC))
		w(`      <model type=%s/>`, attr(libvirtNICModel(c.NIC)))
		w(`      <rom enabled='no'/>`)
		w(`    </interface>`)
	}
	w(`    <controller type='usb' model='none'/>`)
	w(`    <serial type='pty'><target port='0'/></serial>`)
	w(`    <console type='pty'><target type='serial' port='0'/></console>`)
	w(`    <memballoon model='none'/>`)
	w(`  </devices>`)
	var extra []string
	if c.Network == NetUser {
		extra = append(extra, "-netdev", userNetdev(c), "-device", libvirtNICArg(c))
	}
	extra = append(extra, c.ExtraArgs...)
	if len(extra) > 0 {
		w(`  <qemu:commandline>`)
		for _, a := range extra {
			w(`    <qemu:arg value=%s/>`, attr(a))
		}
		w(`  </qemu:commandline>`)
	}
	w(`</domain>`)
	return b.Bytes()
}

// libvirtUserNICSlot is the PCI slot of the user-networking NIC that
// <qemu:commandline> adds: libvirt gives its own devices (the disk) slots
// from 2 up and does not know of this one, so it gets one libvirt leaves
// alone.
const libvirtUserNICSlot = "0x1e"

// libvirtNICArg is nicArg with a PCI NIC's address fixed at
// libvirtUserNICSlot on the root bus.
func libvirtNICArg(c Config) string {
	d := nicArg(c)
	if !pciNIC(c.NIC) {
		return d
	}
	bus := "pci.0"
	if c.Machine == "q35" {
		bus = "pcie.0"
	}
	return d + ",bus=" + bus + ",addr=" + libvirtUserNICSlot
}

// libvirtNICModel is the <model type=> for a QEMU NIC model name.
func libvirtNICModel(nic string) string {
	if nic == "virtio-net-pci" {
		return "virtio"
	}
	return nic
}

// cpuList is a libvirt cpuset: "1,3".
func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// attr is s as a quoted XML attribute value.
func attr(s string) string { return `"` + text(s) + `"` }

// text is s escaped for XML character data or an attribute.
func text(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
