package targets

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/fielderr"
	"github.com/ukbench/ukbench/internal/yamlstrict"
	"github.com/ukbench/ukbench/targets/linuximage"
	"github.com/ukbench/ukbench/targets/osvimage"
	"github.com/ukbench/ukbench/targets/servers"
	"github.com/ukbench/ukbench/vm"
)

func TestSpecValidateNamesTheField(t *testing.T) {
	elf := filepath.Join(t.TempDir(), "loader.elf")
	os.WriteFile(elf, []byte("\x7fELF...."), 0o644)
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Kind: "xen", App: "dns"}, "kind:"},
		{Spec{Kind: KindLinux, App: "smtp"}, "app:"},
		{Spec{Kind: KindOSv, App: "nsd", Image: elf}, "app:"},
		{Spec{Kind: KindOSv, App: "http"}, "kernel:"},
		{Spec{Kind: KindOSv, App: "http", Image: elf, Kernel: elf}, "image/kernel:"},
		{Spec{Kind: KindOSv, App: "http", Image: elf, Cmdline: "x", Bootstrap: elf}, "bootstrap:"},
		{Spec{Kind: KindOSv, App: "http", Kernel: elf + ".missing"}, "kernel:"},
		{Spec{Kind: KindOSv, App: "http", Kernel: elf + ".missing", Optional: true, Bootstrap: "/b\nx"}, "bootstrap:"},
		{Spec{Kind: KindOSv, App: "http", Kernel: elf, KernelRoot: "/k"}, "kernel_root/kernel_package:"},
		{Spec{Kind: KindLinux, App: "dns", Kernel: elf}, "kernel/bootstrap:"},
		{Spec{Kind: KindNative, App: "dns", Kernel: elf}, "image/cmdline/kernel:"},
		{Spec{Kind: KindOSv, App: "http", Image: elf}, "cmdline:"},
		{Spec{Kind: KindOSv, App: "http", Image: elf + ".missing", Cmdline: "x"}, "image:"},
		{Spec{Kind: KindLinux, App: "dns", Cmdline: "x"}, "cmdline:"},
		{Spec{Kind: KindLinux, App: "dns", KernelRoot: "/a", KernelPackage: "b"}, "image/kernel_root/kernel_package:"},
		{Spec{Kind: KindNative, App: "dns", Image: "x"}, "image/cmdline/kernel:"},
		{Spec{Kind: KindLinux, App: "dns", VM: VMShape{Network: "tap"}}, "vm.bridge:"},
		{Spec{Kind: KindLinux, App: "dns", VM: VMShape{Network: "tap", Bridge: "br0", GuestIP: "10.0.0.2"}}, "vm.guest_ip:"},
		{Spec{Kind: KindLinux, App: "dns", VM: VMShape{CPUs: 300}}, "vm.cpus:"},
		{Spec{Kind: KindLinux, App: "dns", Port: 70000}, "port:"},
		{Spec{Name: "../../../../tmp/x", Kind: KindNative, App: "dns"}, "name:"},
		{Spec{Name: "a/b", Kind: KindNative, App: "dns"}, "name:"},
		{Spec{Name: ".hidden", Kind: KindNative, App: "dns"}, "name:"},
		{Spec{Name: "-o", Kind: KindNative, App: "dns"}, "name:"},
		{Spec{Name: "a b", Kind: KindNative, App: "dns"}, "name:"},
		// What goes to other programs is checked for what it may be.
		{Spec{Kind: KindLinux, App: "dns", KernelPackage: "-o=APT::Get::Download-Only=false"}, "kernel_package:"},
		{Spec{Kind: KindLinux, App: "dns", KernelPackage: "Linux-Image"}, "kernel_package:"},
		{Spec{Kind: KindLinux, App: "dns", KernelPackage: "linux-image-amd64 x"}, "kernel_package:"},
		{Spec{Kind: KindLinux, App: "dns", KernelPackage: "bash"}, "kernel_package:"},
		{Spec{Kind: KindOSv, App: "http", Image: elf, Cmdline: "/ukbench serve\x00http"}, "cmdline:"},
		{Spec{Kind: KindOSv, App: "http", Image: elf, Cmdline: "/ukbench serve\nhttp"}, "cmdline:"},
		{Spec{Kind: KindOSv, App: "http", Image: elf + "\r\nx", Cmdline: "x", Optional: true}, "image:"},
		{Spec{Kind: KindLinux, App: "dns", KernelRoot: "/k\nx"}, "kernel_root:"},
		{Spec{Kind: KindLinux, App: "dns", VM: VMShape{NIC: "virtio-net-pci,romfile=/etc/shadow"}}, "vm.nic:"},
	} {
		err := tc.spec.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: Validate = %v, want it to start with %q", tc.spec, err, tc.want)
		}
	}
	// A composed osv target takes the host programs OSv can run.
	for _, app := range []string{"dns", "http", "lighttpd", "nsd"} {
		if err := (Spec{Kind: KindOSv, App: app, Kernel: elf}).Validate(); err != nil {
			t.Errorf("osv app %s with a kernel: %v", app, err)
		}
	}
	for _, pkg := range []string{"linux-image-amd64", "linux-image-6.1.0-28-cloud-amd64", "linux-image-6.12+bpo-amd64"} {
		if err := (Spec{Kind: KindLinux, App: "dns", KernelPackage: pkg}).Validate(); err != nil {
			t.Errorf("kernel_package %q: %v", pkg, err)
		}
	}
	for _, name := range []string{"osv", "osv-2", "Linux_6.1", "a@256MiB"} {
		if err := (Spec{Name: name, Kind: KindNative, App: "dns"}).Validate(); err != nil {
			t.Errorf("name %q: %v", name, err)
		}
	}
	// An optional target with a missing image validates, and is skipped.
	s := Spec{Kind: KindOSv, App: "http", Optional: true, Image: "/no/such/usr.img"}
	if err := s.Validate(); err != nil {
		t.Errorf("optional: %v", err)
	}
	if err := s.Available(); !errors.Is(err, ErrSkipped) {
		t.Errorf("Available = %v, want ErrSkipped", err)
	}
}

func TestLoadSpecFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.yaml")
	os.WriteFile(p, []byte("kind: native\napp: dns\nvm:\n  cpus: 2\n  nics: 3\n"), 0o644)
	if _, err := LoadSpec(p); !errors.Is(err, yamlstrict.ErrConfig) || !strings.Contains(err.Error(), p+":5:") {
		t.Errorf("unknown key: %v", err)
	}
	os.WriteFile(p, []byte("kind: linux\napp: dns\nvm:\n  network: tap\n"), 0o644)
	if _, err := LoadSpec(p); err == nil || !strings.Contains(err.Error(), p+":4: vm.bridge") {
		t.Errorf("invalid shape: %v", err)
	}
	t.Setenv("UKBENCH_TEST_IMG", filepath.Join(dir, "usr.img"))
	os.WriteFile(filepath.Join(dir, "usr.img"), []byte("disk"), 0o644)
	os.WriteFile(p, []byte("kind: osv\napp: http\nimage: ${UKBENCH_TEST_IMG}\n"), 0o644)
	if s, err := LoadSpec(p); err != nil || s.Image != filepath.Join(dir, "usr.img") {
		t.Errorf("env expansion: %+v, %v", s, err)
	}
}

// TestLoadSpecRejectsExplicitZeros: 0 where it means nothing is an error
// with its line, not the default.
func TestLoadSpecRejectsExplicitZeros(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.yaml")
	for _, tc := range []struct{ body, want string }{
		{"kind: linux\napp: dns\nvm:\n  cpus: 0\n", ":4: vm.cpus: 0: want 1 to 255"},
		{"kind: linux\napp: dns\nvm:\n  memory_mib: 0\n", ":4: vm.memory_mib: 0: want at least 32"},
		{"kind: native\napp: dns\nport: 0\n", ":3: port: 0: want 1 to 65535"},
		{"kind: native\napp: dns\ndns_sockets: 0\n", ":3: dns_sockets: 0: want 1 to 256"},
	} {
		os.WriteFile(p, []byte(tc.body), 0o644)
		if _, err := LoadSpec(p); !errors.Is(err, yamlstrict.ErrConfig) || !strings.Contains(err.Error(), p+tc.want) {
			t.Errorf("%q: LoadSpec = %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestOSvCommandLines(t *testing.T) {
	spec := Spec{Kind: KindOSv, App: "http", Cmdline: "/ukbench serve http --listen 0.0.0.0:80"}
	if line, _ := osvCmdline(spec, VMShape{Network: vm.NetUser}); line != spec.Cmdline {
		t.Errorf("user networking: %q", line)
	}
	line, err := osvCmdline(spec, VMShape{Network: vm.NetTap, GuestIP: "10.77.0.2/24", Gateway: "10.77.0.1"})
	if err != nil || line != "--ip=eth0,10.77.0.2,255.255.255.0 --defaultgw=10.77.0.1 --nameserver=10.77.0.1 "+spec.Cmdline {
		t.Errorf("tap: %q, %v", line, err)
	}
}

func TestOSvPrivateImageCarriesTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "usr.img")
	orig := make([]byte, 64<<10)
	copy(orig[512:], "old command line\x00")
	os.WriteFile(img, orig, 0o444)
	priv, err := osvPrivateImage(t.Context(), img, "/ukbench serve dns", dir, "r1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(priv)
	if !strings.HasPrefix(string(got[512:]), "/ukbench serve dns\x00") || len(got) != len(orig) {
		t.Errorf("private copy's command line area = %q", got[512:540])
	}
	if now, _ := os.ReadFile(img); string(now) != string(orig) {
		t.Error("the user's image was modified")
	}
	if _, err := osvPrivateImage(t.Context(), img, strings.Repeat("x", osvCmdlineMax+1), dir, "r2"); err == nil {
		t.Error("an over-long command line was accepted")
	}
}

func TestPrepareOSvBootsAKernelWithAppend(t *testing.T) {
	elf := filepath.Join(t.TempDir(), "loader-stripped.elf")
	os.WriteFile(elf, []byte("\x7fELF...."), 0o644)
	spec := Spec{Kind: KindOSv, App: "dns", Image: elf, Cmdline: "/ukbench serve dns --listen 0.0.0.0:53"}
	p, err := prepareGuest(t.Context(), spec, BootOptions{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if p.cfg.Kernel != elf || p.cfg.Append != spec.Cmdline || p.cfg.Disk != "" || p.ready != servers.ReadyPrefix {
		t.Errorf("cfg %+v, ready %q", p.cfg, p.ready)
	}
	if len(p.cfg.Net.Forwards) != 2 || p.cfg.Net.Forwards[1].Proto != "udp" || p.cfg.Net.Forwards[1].GuestPort != 53 {
		t.Errorf("forwards %+v, want tcp and udp to guest port 53", p.cfg.Net.Forwards)
	}
}

func TestOSvUnknownImageFormat(t *testing.T) {
	img := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(img, []byte("this is not a disk image"), 0o644)
	_, err := prepareGuest(t.Context(), Spec{Kind: KindOSv, App: "http", Image: img}, BootOptions{WorkDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "unknown image format") {
		t.Errorf("prepareGuest = %v, want an unknown-format error", err)
	}
	raw := filepath.Join(t.TempDir(), "usr.img")
	b := make([]byte, 4096)
	b[510], b[511] = 0x55, 0xaa
	os.WriteFile(raw, b, 0o644)
	p, err := prepareGuest(t.Context(), Spec{Kind: KindOSv, App: "http", Image: raw}, BootOptions{WorkDir: t.TempDir()})
	if err != nil || p.cfg.Disk != raw || p.cfg.DiskFormat != "raw" {
		t.Errorf("raw disk: %+v, %v; want the user's file attached as raw (snapshot)", p, err)
	}
}

// An image directory `ukbench image osv` wrote boots as a composed guest:
// its kernel with -kernel, its disk, its command line and ready line; it
// takes the host app it was composed for (not a finished image's protocol
// only), and a target of another app is refused naming both.
func TestOSvImageDirectoryBootsAsComposed(t *testing.T) {
	dir := t.TempDir()
	kernel, disk := []byte("\x7fELF"), make([]byte, 4096)
	os.WriteFile(filepath.Join(dir, "loader.elf"), kernel, 0o644)
	os.WriteFile(filepath.Join(dir, "disk.raw"), disk, 0o644)
	digest := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	im, _ := json.Marshal(osvimage.Image{App: "lighttpd", Kernel: "loader.elf", Disk: "disk.raw",
		KernelBytes: int64(len(kernel)), DiskBytes: int64(len(disk)), KernelSHA256: digest(kernel), DiskSHA256: digest(disk),
		Cmdline: "--rootfs=rofs /lighttpd -D -f /etc/lighttpd.conf", Ready: "server started"})
	os.WriteFile(filepath.Join(dir, osvimage.ImageFile), im, 0o644)
	spec := Spec{Kind: KindOSv, App: "lighttpd", Image: dir}
	if spec.FinishedOSvImage() {
		t.Error("an image directory counted as a finished image")
	}
	if err := spec.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	p, err := prepareGuest(t.Context(), spec, BootOptions{WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.release()
	if p.cfg.Kernel != filepath.Join(dir, "loader.elf") || p.cfg.Disk != filepath.Join(dir, "disk.raw") || p.cfg.DiskFormat != "raw" ||
		p.cfg.Append != "--rootfs=rofs /lighttpd -D -f /etc/lighttpd.conf" || p.ready != "server started" {
		t.Errorf("cfg kernel %q disk %q (%s) append %q, ready %q: want the directory's", p.cfg.Kernel, p.cfg.Disk, p.cfg.DiskFormat, p.cfg.Append, p.ready)
	}
	if disk := slices.IndexFunc(p.files, func(f File) bool { return f.Role == "disk" }); disk < 0 || p.files[disk].Path != p.cfg.Disk {
		t.Errorf("files %+v: want the directory's disk recorded", p.files)
	}
	spec.App = "http"
	if _, err := prepareGuest(t.Context(), spec, BootOptions{WorkDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), `serves "lighttpd", the target says app "http"`) {
		t.Errorf("another app: %v, want the mismatch named", err)
	}
}

func TestPruneImagesKeepsTheRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	for i := range 6 {
		d := filepath.Join(dir, fmt.Sprintf("dns-%d", i))
		os.MkdirAll(d, 0o755)
		f := filepath.Join(d, linuximage.ImageFile)
		os.WriteFile(f, []byte("{}"), 0o644)
		at := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(f, at, at)
	}
	os.MkdirAll(filepath.Join(dir, "http-0"), 0o755)
	os.WriteFile(filepath.Join(dir, "http-0", linuximage.ImageFile), []byte("{}"), 0o644)
	pruneImages(dir, "dns", linuximage.ImageFile, 4)
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	want := []string{"dns-3", "dns-4", "dns-5", "http-0"} // 3 kept, room for the one to build
	var got []string
	for _, l := range left {
		got = append(got, filepath.Base(l))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("left %v, want %v", got, want)
	}
}

// TestSpecValidateErrorsCarryTheirField: the field is a value on the error
// (a *fielderr.Error), with the vm shape's own errors under vm.
func TestSpecValidateErrorsCarryTheirField(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		path string
	}{
		{Spec{Kind: "xen"}, "kind"},
		{Spec{Kind: KindLinux, App: "dns", VM: VMShape{CPUs: 300}}, "vm.cpus"},
		{Spec{Kind: KindLinux, App: "dns", VM: VMShape{Network: "tap"}}, "vm.bridge"},
		{Spec{Kind: KindLinux, App: "dns", KernelRoot: "/no/such/dir"}, "kernel_root"},
	} {
		err := tc.spec.Validate()
		fe, ok := fielderr.As(err)
		if !ok || fe.Field() != tc.path {
			t.Errorf("%+v: Validate = %v, want a *fielderr.Error for %s", tc.spec, err, tc.path)
		}
	}
	if err := (Spec{Kind: KindLinux, App: "dns", KernelRoot: "/no/such/dir"}).Validate(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Validate = %v: the stat error is lost", err)
	}
}
