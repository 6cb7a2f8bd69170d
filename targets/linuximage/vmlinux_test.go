package linuximage

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ukbench/ukbench/internal/cachedir"
	"github.com/ukbench/ukbench/internal/testbin"
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
		testbin.SkipOrFail(t, fmt.Sprintf("no cache directory for the guest kernel: %v", err))
	}
	imgs, _ := filepath.Glob(filepath.Join(cache, "kernels", "linux-image-*", "boot", "vmlinuz-*"))
	if len(imgs) == 0 {
		testbin.SkipOrFail(t, "no Debian kernel in ukbench's cache (the guest tests fetch it) and UKBENCH_KERNEL_ROOT unset")
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
	path, err := PVHKernel(bz, dir, nil)
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
	again, err := PVHKernel(bz, dir, nil)
	if err != nil || again != path {
		t.Fatalf("second call: %q, %v; want %q", again, err, path)
	}
	if st2, _ := os.Stat(again); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the vmlinux was written again")
	}
}

// fakeBzImage is a bzImage's setup header (boot protocol 2.15) in front
// of payload, where payload_offset and payload_length say.
func fakeBzImage(t *testing.T, payload []byte) string {
	t.Helper()
	const setupSects = 4
	bz := make([]byte, (setupSects+1)*512)
	bz[0x1f1] = setupSects
	copy(bz[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(bz[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(bz[0x248:], 0)
	binary.LittleEndian.PutUint32(bz[0x24c:], uint32(len(payload)))
	path := filepath.Join(t.TempDir(), "vmlinuz-test")
	if err := os.WriteFile(path, append(bz, payload...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPVHKernelCachesOnlyWhatTheKernelIs: a payload that is not xz and a
// vmlinux without a PVH note are ErrNoPVH, remembered (marker named with
// its format version, the bzImage's name in the reason); a file that is
// no bzImage and a corrupt xz payload are errors, not ErrNoPVH, and are
// not remembered (the next call tries again).
func TestPVHKernelCachesOnlyWhatTheKernelIs(t *testing.T) {
	markers := func(dir string) []string {
		m, _ := filepath.Glob(filepath.Join(dir, "*"+noPVHSuffix))
		return m
	}
	if !strings.Contains(noPVHSuffix, "-v") {
		t.Errorf("marker suffix %q has no format version", noPVHSuffix)
	}
	for _, tc := range []struct {
		name  string
		bz    func(t *testing.T) string
		noPVH bool
	}{
		{"gzip payload", func(t *testing.T) string { return fakeBzImage(t, []byte("\x1f\x8b\x08\x00 a gzip kernel")) }, true},
		{"ELF without PVH note", func(t *testing.T) string {
			prog, err := os.ReadFile("/bin/true")
			if err != nil {
				testbin.SkipOrFail(t, fmt.Sprintf("no /bin/true to compress: %v", err))
			}
			return fakeBzImage(t, xzCompress(t, prog, "--x86", "--lzma2", "--check=crc32"))
		}, true},
		{"not a bzImage", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "notbz")
			os.WriteFile(p, bytes.Repeat([]byte{1}, 4096), 0o644)
			return p
		}, false},
		{"corrupt xz payload", func(t *testing.T) string {
			xzData := xzCompress(t, branchyBytes(64<<10), "--x86", "--lzma2", "--check=crc32")
			xzData[blockCheckAt(xzData, 4)] ^= 1
			return fakeBzImage(t, xzData)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bz := tc.bz(t)
			dir := t.TempDir()
			for call := 1; call <= 2; call++ {
				_, err := PVHKernel(bz, dir, nil)
				if err == nil {
					t.Fatalf("call %d: no error", call)
				}
				if errors.Is(err, ErrNoPVH) != tc.noPVH {
					t.Fatalf("call %d: %v; ErrNoPVH %v, want %v", call, err, errors.Is(err, ErrNoPVH), tc.noPVH)
				}
				if !strings.Contains(err.Error(), bz) {
					t.Errorf("call %d: %v does not name %s", call, err, bz)
				}
			}
			if m := markers(dir); tc.noPVH != (len(m) == 1) {
				t.Errorf("markers %v, want one: %v", m, tc.noPVH)
			}
		})
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
