package vm

import (
	"fmt"
	"os"
	"sync/atomic"

	"github.com/vishvananda/netlink"
)

var tapSeq atomic.Uint32

// tapName picks a tap device name unique within this process (at most 15
// bytes, the kernel's limit).
func tapName() string { return fmt.Sprintf("ukbtap%d-%d", os.Getpid()%100000, tapSeq.Add(1)%1000) }

// vhostNet reports whether /dev/vhost-net can be used; a variable for tests.
var vhostNet = vhostNetUsable

func vhostNetUsable() bool {
	f, err := os.OpenFile("/dev/vhost-net", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// checkBridge fails unless the bridge exists in this network namespace.
func checkBridge(bridge string) error {
	l, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("bridge %q: %w (create it, e.g. ip link add %s type bridge)", bridge, err, bridge)
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("%q is a %s device, not a bridge", bridge, l.Type())
	}
	return nil
}

// attachTap puts the tap device QEMU created on the bridge and brings it up.
func attachTap(tap, bridge string) error {
	t, err := netlink.LinkByName(tap)
	if err != nil {
		return fmt.Errorf("tap %s: %w", tap, err)
	}
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	if err := netlink.LinkSetMaster(t, br); err != nil {
		return fmt.Errorf("attach tap %s to bridge %s: %w", tap, bridge, err)
	}
	if err := netlink.LinkSetUp(t); err != nil {
		return fmt.Errorf("tap %s up: %w", tap, err)
	}
	return nil
}

// removeTap deletes a tap device if it still exists.
func removeTap(tap string) error {
	l, err := netlink.LinkByName(tap)
	if err != nil {
		return nil // gone with QEMU, as it should be
	}
	return netlink.LinkDel(l)
}
