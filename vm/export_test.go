package vm

// For vm_test, whose tests use internal/libvirtd (which imports vm).
var (
	WriteProbeDisk      = writeProbeDisk
	ProbeGuestMarker    = probeGuestMarker
	ProbeGuestDebugExit = probeGuestDebugExit
)

var LibvirtPoolDir = libvirtPoolDir
