package linuximage

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

// fakeModules makes a modules tree with a modules.dep, as depmod writes it.
func fakeModules(t *testing.T, dep string, builtin ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, line := range strings.Split(strings.TrimSpace(dep), "\n") {
		mod, _, _ := strings.Cut(line, ":")
		p := filepath.Join(dir, mod)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("module"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644)
	os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(strings.Join(builtin, "\n")), 0o644)
	return dir
}

func TestModuleOrderPutsDependenciesFirst(t *testing.T) {
	dir := fakeModules(t, `kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
`)
	order, err := ModuleOrder(dir, NetModules)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, p := range order {
		pos[moduleName(p)] = i
	}
	if len(order) != 7 {
		t.Fatalf("order = %v, want 7 modules", order)
	}
	for _, d := range [][2]string{{"virtio_ring", "virtio"}, {"virtio", "virtio_pci"}, {"virtio_pci_modern_dev", "virtio_pci"}, {"failover", "net_failover"}, {"net_failover", "virtio_net"}, {"virtio", "virtio_net"}} {
		if pos[d[0]] >= pos[d[1]] {
			t.Errorf("%s loads after %s: %v", d[0], d[1], order)
		}
	}
}

func TestModuleOrderErrors(t *testing.T) {
	dir := fakeModules(t, "kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n")
	if _, err := ModuleOrder(dir, []string{"a"}); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	dir = fakeModules(t, "kernel/a.ko: kernel/missing.ko\n")
	if _, err := ModuleOrder(dir, []string{"a"}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing dependency: %v", err)
	}
	// A dependency built into the kernel is not loaded.
	dir = fakeModules(t, "kernel/a.ko: kernel/virtio.ko\n", "kernel/drivers/virtio/virtio.ko")
	if order, err := ModuleOrder(dir, []string{"a"}); err != nil || len(order) != 1 {
		t.Errorf("built-in dependency: %v, %v", order, err)
	}
}

// TestNewcReadBack writes an archive and reads it with an independent
// cpio reader.
func TestNewcReadBack(t *testing.T) {
	var buf bytes.Buffer
	a := newNewcWriter(&buf)
	a.File("/ukbench/init.json", 0o644, []byte(`{"x":1}`))
	a.Symlink("/bin/ukbench", "/init")
	a.CharDev("/dev/console", 0o600, 5, 1)
	a.File("/odd", 0o755, []byte("abc")) // a size that needs padding
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	raw := buf.String()
	// The kernel reads the device numbers from rdevmajor/rdevminor (the
	// 10th and 11th header fields), which the reader below ignores.
	if i := strings.Index(raw, "dev/console\x00"); i < 110 || raw[i-110+78:i-110+94] != "0000000500000001" {
		t.Errorf("/dev/console is not device 5,1")
	}
	r := cpio.NewReader(&buf)
	got := map[string]string{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		got[h.Name] = h.Mode.String() + " " + h.Linkname + string(data)
		if h.ModTime.Unix() == 0 {
			t.Errorf("%s dated 1970", h.Name)
		}
	}
	for name, want := range map[string]string{
		"ukbench":           "040755 ",
		"ukbench/init.json": `0100644 {"x":1}`,
		"bin/ukbench":       "0120777 /init",
		"dev/console":       "020600 ",
		"odd":               "0100755 abc",
	} {
		if g, ok := got[name]; !ok || g != want {
			t.Errorf("%s = %q, want %q in it (all: %v)", name, g, want, got)
		}
	}
}

func TestCheckStaticRejectsADynamicBinary(t *testing.T) {
	if err := checkStatic("/bin/sh"); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("checkStatic(/bin/sh) = %v", err)
	}
}
