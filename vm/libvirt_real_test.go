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
// probe boots it under type='kvm'. With isa-debug-exit it reaches its
// marker and exits, which is seen as QEMU's exit; without, it stays up,
// and its writes would go to libvirt's overlay, which exists while it
// runs and is gone after Shutdown. The image is never changed.
func TestLibvirtDiskGuestUnderTCG(t *testing.T) {
	testbin.NeedQEMU(t)
	libvirtd.Start(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := vm.WriteProbeDisk(img); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(img)
	boot := func(t *testing.T, extra ...string) *vm.LibvirtMachine {
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
		if _, err := marker.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("exit", func(t *testing.T) {
		m := boot(t, "-device", vm.ProbeGuestDebugExit)
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
		m := boot(t)
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
