package vm_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/libvirtd"
	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/vm"
)

// TestLibvirtDiskGuestUnderTCG boots a disk through a real libvirt
// daemon (started by the test): ukbench's probe guest, a boot sector,
// attached <transient/> under type='qemu', as the libvirt host's KVM
// probe boots it under type='kvm'. With isa-debug-exit it exits after its
// marker, which is seen as QEMU's exit (the marker itself may be lost
// then: QEMU's exit hangs up the console's pty, and the kernel drops what
// the daemon had not read, which a busy host showed; the probe boots it
// without the device for that reason). Without, it stays up and its
// marker is seen; its writes would go to libvirt's overlay, which exists
// while it runs and is gone after Shutdown. The image is never changed.
func TestLibvirtDiskGuestUnderTCG(t *testing.T) {
	testbin.NeedQEMU(t)
	libvirtd.Start(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := vm.WriteProbeDisk(img); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(img)
	boot := func(t *testing.T, waitMarker bool, extra ...string) *vm.LibvirtMachine {
		cfg := vm.Config{Shape: vm.Shape{Backend: vm.BackendLibvirt, URI: libvirtd.SystemURI, Accel: vm.AccelTCG, MemoryMiB: 32},
			Disk: img, DiskFormat: "raw", ConsoleLog: filepath.Join(t.TempDir(), "console.log"), ExtraArgs: extra, Campaign: "vmtest", RunID: "disk"}
		m, err := vm.NewLibvirt(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Shutdown(context.Background()) })
		marker := m.WatchConsole(vm.ProbeGuestMarker)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if !waitMarker {
			return m
		}
		if _, err := marker.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("exit", func(t *testing.T) {
		m := boot(t, false, "-device", vm.ProbeGuestDebugExit)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Wait(ctx); !errors.Is(err, vm.ErrExited) {
			t.Fatalf("after isa-debug-exit: %v, want ErrExited", err)
		}
		if err := m.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		noDomain(t, m.Name())
	})
	t.Run("transient", func(t *testing.T) {
		m := boot(t, true)
		overlay := filepath.Join(vm.LibvirtPoolDir, "*.TRANSIENT-"+m.Name())
		if found, _ := filepath.Glob(overlay); len(found) != 1 {
			t.Errorf("overlay %s while the guest runs: %v", overlay, found)
		}
		if err := m.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if found, _ := filepath.Glob(overlay); len(found) != 0 {
			t.Errorf("overlay left after Shutdown: %v", found)
		}
		noDomain(t, m.Name())
	})
	if b, _ := os.ReadFile(img); !bytes.Equal(b, before) {
		t.Error("the user's image was modified")
	}
}

func noDomain(t *testing.T, name string) {
	t.Helper()
	out, _ := exec.Command("virsh", "-c", libvirtd.SystemURI, "list", "--all", "--name").Output()
	if strings.Contains(string(out), name) {
		t.Errorf("domain %s left", name)
	}
}

// TestLibvirtLeftoversOfADeadRun: domains a dead ukbench of the campaign
// left (no auto-destroy: created here with virsh, owned by a PID that has
// exited) are destroyed by the campaign's next start; a domain without
// ukbench's element, another campaign's and a live process's are not.
func TestLibvirtLeftoversOfADeadRun(t *testing.T) {
	testbin.NeedQEMU(t)
	libvirtd.Start(t)
	dir := t.TempDir()
	dead := exec.Command("true")
	dead.Run()
	domains := map[string][]byte{
		"ukbench-vmleft-linux-dns-r1-1-1": vm.OwnedDomainXML("ukbench-vmleft-linux-dns-r1-1-1", "vmleft", dead.Process.Pid),
		"ukbench-vmleft-linux-dns-r2-1-1": vm.OwnedDomainXML("ukbench-vmleft-linux-dns-r2-1-1", "other", dead.Process.Pid),
		"ukbench-vmleft-linux-dns-r3-1-1": vm.OwnedDomainXML("ukbench-vmleft-linux-dns-r3-1-1", "vmleft", os.Getppid()),
		"ukbench-vmleft-handmade": []byte(`<domain type='qemu'><name>ukbench-vmleft-handmade</name><memory unit='MiB'>32</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><memballoon model='none'/></devices></domain>`),
	}
	for name, x := range domains {
		path := filepath.Join(dir, name+".xml")
		os.WriteFile(path, x, 0o644)
		if out, err := exec.Command("virsh", "-c", libvirtd.SystemURI, "create", path).CombinedOutput(); err != nil {
			t.Fatalf("virsh create %s: %v: %s", name, err, out)
		}
		t.Cleanup(func() { exec.Command("virsh", "-c", libvirtd.SystemURI, "destroy", name).Run() })
	}
	img := filepath.Join(dir, "disk.img")
	if err := vm.WriteProbeDisk(img); err != nil {
		t.Fatal(err)
	}
	m, err := vm.NewLibvirt(vm.Config{Shape: vm.Shape{Backend: vm.BackendLibvirt, URI: libvirtd.SystemURI, Accel: vm.AccelTCG, MemoryMiB: 32},
		Disk: img, DiskFormat: "raw", ConsoleLog: filepath.Join(dir, "console.log"), Campaign: "vmleft", RunID: "next"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	out, _ := exec.Command("virsh", "-c", libvirtd.SystemURI, "list", "--name").Output()
	running := string(out)
	if strings.Contains(running, "ukbench-vmleft-linux-dns-r1-1-1") {
		t.Error("the dead run's domain was not destroyed")
	}
	for _, n := range []string{"ukbench-vmleft-linux-dns-r2-1-1", "ukbench-vmleft-linux-dns-r3-1-1", "ukbench-vmleft-handmade", m.Name()} {
		if !strings.Contains(running, n) {
			t.Errorf("%s was touched: running %s", n, running)
		}
	}
}
