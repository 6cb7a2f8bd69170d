package vm

import "time"

// For vm_test, whose tests use internal/libvirtd (which imports vm).
var (
	WriteProbeDisk      = writeProbeDisk
	ProbeGuestMarker    = probeGuestMarker
	ProbeGuestDebugExit = probeGuestDebugExit
)

var LibvirtPoolDir = libvirtPoolDir

// OwnedDomainXML is a domain with neither kernel nor disk (SeaBIOS
// idles) named name, owned by pid on this host in campaign: what a
// dead (or live) run leaves.
func OwnedDomainXML(name, campaign string, pid int) []byte {
	o := thisOwner(campaign, time.Now())
	o.PID = pid
	cfg := Config{Shape: Shape{Backend: BackendLibvirt, URI: "qemu:///system", MemoryMiB: 32, Accel: AccelTCG}}
	return DomainXML(cfg.WithDefaults(), AccelTCG, name, guestFiles{}, o)
}
