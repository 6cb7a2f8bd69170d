package targets

import (
	"debug/elf"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
	"github.com/ukbench/ukbench/targets/linuximage"
)

// TestLinuxGuestWithCgoUkbench boots Linux guests whose init and server is
// ukbench built with cgo on, so dynamically linked as go build and go
// install make it (once with Go's own linker, once linked externally by
// the C compiler), and checks they answer and that the image holds and
// records the binary's loader.
func TestLinuxGuestWithCgoUkbench(t *testing.T) {
	needQEMU(t)
	k := testKernel(t)
	for _, c := range []struct {
		name, app string
		flags     []string
	}{
		{"go-build", "dns", nil},
		{"external-link", "http", []string{"-ldflags=-linkmode=external"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := testbin.Cgo(t, "ukbench-cgo-"+c.name, c.flags...)
			interp, libs := dynamicLinkage(t, bin)
			if interp == "" || !slices.Contains(libs, "libc.so.6") {
				t.Fatalf("%s: interpreter %q, needed %v: not a dynamically linked build", bin, interp, libs)
			}
			inst := bootAndCheckBinary(t, Spec{Name: "linux-cgo-" + c.name, Kind: KindLinux, App: c.app, KernelRoot: kernelRoot(k), VM: VMShape{MemoryMiB: 512}}, bin)
			var initrd string
			for _, f := range inst.Files {
				if f.Role == "initrd" {
					initrd = f.Path
				}
			}
			im, err := linuximage.ReadImage(filepath.Dir(initrd))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(im.Libraries, interp) {
				t.Errorf("image.json libraries = %v, want %s in them", im.Libraries, interp)
			}
			t.Logf("%s: needs %v through %s; image libraries %v, initramfs %d bytes", c.name, libs, interp, im.Libraries, im.InitrdBytes)
		})
	}
}

// dynamicLinkage returns an executable's interpreter and needed libraries.
func dynamicLinkage(t *testing.T, path string) (string, []string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			data := make([]byte, p.Filesz)
			p.ReadAt(data, 0)
			interp = string(data[:max(0, len(data)-1)])
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	return interp, libs
}
