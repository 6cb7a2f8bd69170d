package vm

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/fielderr"
)

func TestValidateNamesTheField(t *testing.T) {
	k := filepath.Join(t.TempDir(), "k")
	os.WriteFile(k, nil, 0o644)
	good := Config{Kernel: k, ConsoleLog: "c.log"}
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"accel", func(c *Config) { c.Accel = "xen" }},
		{"cpus", func(c *Config) { c.CPUs = -1 }},
		{"memory_mib", func(c *Config) { c.MemoryMiB = 8 }},
		{"machine", func(c *Config) { c.Machine = "virt" }},
		{"kernel/disk", func(c *Config) { c.Kernel = "" }},
		{"initrd", func(c *Config) { c.Kernel, c.Disk, c.Initrd = "", k, k }},
		{"kernel", func(c *Config) { c.Kernel = k + ".missing" }},
		{"console_log", func(c *Config) { c.ConsoleLog = "" }},
		{"forwards[0].proto", func(c *Config) { c.Net.Forwards = []Forward{{Proto: "sctp", GuestPort: 1}} }},
		{"bridge", func(c *Config) { c.Network = NetTap }},
		{"network", func(c *Config) { c.Network = "bridge" }},
		{"disk_format", func(c *Config) { c.Kernel, c.Disk, c.DiskFormat = "", k, "vmdk" }},
		// Values that go onto QEMU's command line are names, never options.
		{"nic", func(c *Config) { c.NIC = "virtio-net-pci,romfile=/etc/shadow" }},
		{"nic", func(c *Config) { c.NIC = "e1000 " }},
		{"bridge", func(c *Config) { c.Network, c.Bridge, c.GuestIP = NetTap, "br0,x=y", "10.0.0.2/24" }},
		{"kernel", func(c *Config) { c.Kernel = k + "\r\nx" }},
		{"console_log", func(c *Config) { c.ConsoleLog = "c\n.log" }},
		{"append", func(c *Config) { c.Append = "console=ttyS0\x00x" }},
	} {
		c := good
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: Validate = %v", tc.field, err)
		}
		if fe, ok := fielderr.As(err); !ok || fe.Field() != tc.field {
			t.Errorf("%s: Validate = %v, holds no *fielderr.Error for the field", tc.field, err)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
}

func TestArgs(t *testing.T) {
	defer func(f func() bool) { vhostNet = f }(vhostNet)
	vhostNet = func() bool { return true }
	c := Config{Kernel: "/k", Initrd: "/i", Append: "console=ttyS0", ConsoleLog: "c",
		Net: Network{Forwards: []Forward{{Proto: "udp", GuestPort: 53, HostPort: 4000}}}}
	a := Args(c, AccelTCG, "/d/qmp.sock")
	for _, want := range [][]string{
		{"-accel", "tcg"}, {"-cpu", "max"}, {"-m", "1024M"}, {"-smp", "1"}, {"-machine", "pc"},
		{"-kernel", "/k"}, {"-initrd", "/i"}, {"-append", "console=ttyS0"},
		{"-qmp", "unix:/d/qmp.sock,server=on,wait=off"},
		{"-netdev", "user,id=net0,restrict=off,hostfwd=udp:127.0.0.1:4000-:53"},
		{"-device", "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,romfile="},
	} {
		if !containsPair(a, want) {
			t.Errorf("tcg args lack %v: %v", want, a)
		}
	}
	c = Config{Shape: Shape{CPUs: 2, Network: NetTap, Bridge: "br0"}, Disk: "/img,x.qcow2", DiskFormat: "qcow2", ConsoleLog: "c", Net: Network{Tap: "t0"}}
	a = Args(c, AccelKVM, "/q")
	for _, want := range [][]string{
		{"-accel", "kvm"}, {"-cpu", "host"}, {"-smp", "2"},
		{"-drive", "file=/img,,x.qcow2,if=none,id=disk0,snapshot=on,cache=unsafe,format=qcow2"},
		{"-netdev", "tap,id=net0,ifname=t0,script=no,downscript=no,vhost=on"},
	} {
		if !containsPair(a, want) {
			t.Errorf("kvm args lack %v: %v", want, a)
		}
	}
	if a := Args(Config{Shape: Shape{CPUs: 2}, Kernel: "/k", ConsoleLog: "c"}, AccelTCG, "/q"); !containsPair(a, []string{"-accel", "tcg,thread=multi"}) {
		t.Errorf("2 vCPUs under TCG need multi-threaded TCG: %v", a)
	}
}

func containsPair(a, pair []string) bool {
	for i := 0; i+1 < len(a); i++ {
		if slices.Equal(a[i:i+2], pair) {
			return true
		}
	}
	return false
}

func TestParseStatus(t *testing.T) {
	if s, err := parseStatus([]byte(`{"return":{"status":"paused","running":false}}`)); err != nil || s != "paused" {
		t.Errorf("= %q, %v", s, err)
	}
	if _, err := parseStatus([]byte(`{"error":{"class":"GenericError","desc":"nope"}}`)); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("error reply: %v", err)
	}
}

func TestProcessMemoryOfSelf(t *testing.T) {
	rss, hwm, err := ProcessMemory(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("= %d, %d, %v", rss, hwm, err)
	}
}
