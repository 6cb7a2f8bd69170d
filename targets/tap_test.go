package targets

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netnsSetup makes a bridge with the host side's address inside the fresh
// network namespace, then runs this test binary again there (its
// inside role, see TestLinuxGuestOnTap).
const netnsSetup = `set -e
ip link set lo up
ip link add ukbr0 type bridge
ip addr add 10.77.0.1/24 dev ukbr0
ip link set ukbr0 up
exec "$0" -test.run '^TestLinuxGuestOnTap$' -test.v -test.count=1`

// TestLinuxGuestOnTap boots the Linux guest on a tap device inside a network
// namespace the test creates (so no traffic can reach any other host) and
// loads it through the bridge.
func TestLinuxGuestOnTap(t *testing.T) {
	if os.Getenv("UKBENCH_IN_NETNS") != "" {
		tapInsideNetns(t) // this test binary, run again inside the namespace below
		return
	}
	needQEMU(t)
	if os.Geteuid() != 0 {
		skipOrFail(t, "tap networking needs root (to create a network namespace, a bridge and a tap device)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		skipOrFail(t, fmt.Sprintf("no /dev/net/tun: %v", err))
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, tool+" not installed (scripts/install-deps.sh iproute2 util-linux)")
		}
	}
	k := testKernel(t)
	cmd := exec.Command("unshare", "--net", "--", "sh", "-c", netnsSetup, os.Args[0])
	cmd.Env = append(os.Environ(), "UKBENCH_IN_NETNS=1", "UKBENCH_NETNS_BINARY="+testBinary, "UKBENCH_KERNEL_ROOT="+kernelRoot(k))
	out, err := cmd.CombinedOutput()
	t.Logf("inside the namespace:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestLinuxGuestOnTap") {
		t.Fatalf("tap test in a network namespace failed: %v", err)
	}
}

// tapInsideNetns is TestLinuxGuestOnTap inside the namespace it made.
func tapInsideNetns(t *testing.T) {
	k := testKernel(t)
	spec := Spec{Kind: KindLinux, App: "dns", KernelRoot: kernelRoot(k),
		VM: VMShape{MemoryMiB: 512, Network: "tap", Bridge: "ukbr0", GuestIP: "10.77.0.2/24", Gateway: "10.77.0.1"}}
	inst := bootAndCheck(t, spec)
	if inst.Addr != "10.77.0.2:53" {
		t.Errorf("address = %s, want the guest's own 10.77.0.2:53", inst.Addr)
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, "ukbtap") {
			t.Errorf("tap device %s left after Stop", i.Name)
		}
	}
}
