package linuximage

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/cachedir"
)

// debianBzImage is the cached Debian kernel's bzImage, or a skip.
func debianBzImage(t *testing.T) string {
	t.Helper()
	if root := os.Getenv("UKBENCH_KERNEL_ROOT"); root != "" {
		k, err := FindKernel(root)
		if err != nil {
			t.Fatal(err)
		}
		return k.Image
	}
	cache, err := cachedir.Dir()
	if err != nil {
		t.Skip(err)
	}
	imgs, _ := filepath.Glob(filepath.Join(cache, "kernels", "linux-image-*", "boot", "vmlinuz-*"))
	if len(imgs) == 0 {
		t.Skip("no Debian kernel in ukbench's cache (the guest tests fetch it) and UKBENCH_KERNEL_ROOT unset")
	}
	return imgs[0]
}

// TestPVHKernelFromDebianBzImage extracts the vmlinux (xz, x86 BCJ: the
// block check proves the decoding), finds its PVH note, and reuses the
// extracted file the second time. Under the race detector, which makes
// the single-threaded decoding 10x slower (12 s) and has nothing to find
// in it, it takes the kernel cache's copy when there is one.
func TestPVHKernelFromDebianBzImage(t *testing.T) {
	bz := debianBzImage(t)
	dir := t.TempDir()
	if raceEnabled {
		if k, err := FindKernel(filepath.Dir(filepath.Dir(bz))); err == nil && k.VmlinuxDir != "" {
			dir = k.VmlinuxDir
		}
	}
	begun := time.Now()
	path, err := PVHKernel(bz, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("extracted %s in %v", path, time.Since(begun))
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("vmlinux machine %v", f.Machine)
	}
	f.Close()
	st, _ := os.Stat(path)
	again, err := PVHKernel(bz, dir)
	if err != nil || again != path {
		t.Fatalf("second call: %q, %v; want %q", again, err, path)
	}
	if st2, _ := os.Stat(again); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the vmlinux was written again")
	}
}

func TestPVHKernelRefusesWhatItCannotBoot(t *testing.T) {
	dir := t.TempDir()
	notBz := filepath.Join(dir, "notbz")
	os.WriteFile(notBz, bytes.Repeat([]byte{1}, 4096), 0o644)
	if _, err := PVHKernel(notBz, dir); !errors.Is(err, ErrNoPVH) {
		t.Fatalf("err = %v, want ErrNoPVH", err)
	}
	// The verdict is remembered.
	if _, err := PVHKernel(notBz, dir); !errors.Is(err, ErrNoPVH) {
		t.Fatalf("second call: err = %v, want ErrNoPVH", err)
	}
}

func TestHasNote(t *testing.T) {
	note := func(name string, typ uint32, desc int) []byte {
		b := make([]byte, 12)
		b[0] = byte(len(name) + 1)
		b[4] = byte(desc)
		b[8] = byte(typ)
		n := append([]byte(name), 0)
		for len(n)%4 != 0 {
			n = append(n, 0)
		}
		b = append(b, n...)
		return append(b, make([]byte, (desc+3)&^3)...)
	}
	notes := append(note("GNU", 3, 20), note("Xen", xenElfnotePhys32Entry, 4)...)
	if !hasNote(notes, "Xen", xenElfnotePhys32Entry) {
		t.Error("PVH note not found")
	}
	if hasNote(note("Xen", 1, 4), "Xen", xenElfnotePhys32Entry) || hasNote(notes[:20], "Xen", xenElfnotePhys32Entry) {
		t.Error("note found where there is none")
	}
}

// TestBuildRecordsTheBootPath: an image given a vmlinux boots it through
// PVH (linked from the cache, not copied) and says so in image.json; one
// without boots the bzImage and says why.
func TestBuildRecordsTheBootPath(t *testing.T) {
	bin := staticTestBinary(t)
	k := fakeKernel(t)
	vmlinux := filepath.Join(t.TempDir(), "vmlinux-test")
	os.WriteFile(vmlinux, []byte("\x7fELF pretend"), 0o644)
	pvh, err := Build(context.Background(), Options{App: AppHTTP, Kernel: k, Vmlinux: vmlinux, Binary: bin, OutDir: filepath.Join(t.TempDir(), "pvh")})
	if err != nil {
		t.Fatal(err)
	}
	st1, _ := os.Stat(vmlinux)
	st2, _ := os.Stat(pvh.KernelPath())
	if pvh.Boot() != BootPVH || pvh.Kernel != "vmlinux" || !os.SameFile(st1, st2) {
		t.Errorf("PVH image: boot %q, kernel %q, linked %v", pvh.Boot(), pvh.Kernel, os.SameFile(st1, st2))
	}
	bz, err := Build(context.Background(), Options{App: AppHTTP, Kernel: k, NoPVH: "no PVH note", Binary: bin, OutDir: filepath.Join(t.TempDir(), "bz")})
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadImage(bz.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Boot() != BootBzImage || back.Kernel != "vmlinuz" || back.NoPVH != "no PVH note" {
		t.Errorf("bzImage image read back: boot %q, kernel %q, no_pvh %q", back.Boot(), back.Kernel, back.NoPVH)
	}
}
