package osvimage

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"

	"github.com/ukbench/ukbench/internal/elfnote"
)

// ErrKernel: the file is not an OSv kernel QEMU can boot with -kernel.
var ErrKernel = errors.New("not an OSv kernel")

// supplied are the libraries OSv's kernel provides itself, as OSv's
// core/elf.cc lists them (program::program, "supplied_modules"); a
// kernel's own list is the names of these its file holds (a kernel built
// with hidden symbols, for one, does not supply libstdc++). An application
// that needs one of them gets the kernel's, so none is put on the disk.
var supplied = []string{
	"ld-linux-x86-64.so.2", "libresolv.so.2", "libc.so.6", "libm.so.6",
	"libc.musl-x86_64.so.1", "ld-musl-x86_64.so.1", "libboost_system.so.1.55.0",
	"libpthread.so.0", "libdl.so.2", "librt.so.1", "libstdc++.so.6",
	"libaio.so.1", "libxenstore.so.3.0", "libcrypt.so.1", "libutil.so",
}

// vdsoLookupText is what an OSv kernel that takes libvdso.so from the file
// system (v0.57.0; later kernels embed it) prints when it is missing
// (core/app.cc): its presence says the disk must carry /libvdso.so for Go
// programs.
const vdsoLookupText = "missing libvdso.so"

// Kernel is an OSv kernel read from the user's file.
type Kernel struct {
	// Path is the user's file; Gzip says it was gzip-compressed (a
	// release's osv-loader.elf.x86_64.gz), ELF is the kernel itself.
	Path string
	Gzip bool
	ELF  []byte
	// SHA256 is the hex digest of ELF.
	SHA256 string
	// Version is OSv's version string ("v0.57.0-398-g0e34e4dc"), "" when
	// the file does not say.
	Version string
	// Exports are the symbols the kernel defines for applications (its
	// .dynsym).
	Exports map[string]bool
	// Supplied are the libraries the kernel provides (sonames).
	Supplied []string
	// NeedsVDSOFile: the kernel looks for /libvdso.so on the disk (Go
	// programs need it).
	NeedsVDSOFile bool
}

var versionRE = regexp.MustCompile(`OSv (v[0-9]+\.[0-9]+[0-9A-Za-z.+_-]*)`)

// ReadKernel reads and checks an OSv kernel: an x86-64 ELF with OSv's Xen
// guest note and a PVH entry, plain or gzip-compressed. Errors wrap
// ErrKernel and name the file.
func ReadKernel(path string) (*Kernel, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	k := &Kernel{Path: path}
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err == nil {
			data, err = io.ReadAll(zr)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: gzip: %v (truncated or corrupt download?)", ErrKernel, path, err)
		}
		k.Gzip = true
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not an ELF file (%v); want loader-stripped.elf from an OSv build or a release's osv-loader.elf.x86_64.gz", ErrKernel, path, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%w: %s: an ELF for %v %v, want x86-64", ErrKernel, path, f.Class, f.Machine)
	}
	guest, pvh := xenNotes(f)
	switch {
	case guest != "osv":
		return nil, fmt.Errorf("%w: %s: an ELF without OSv's Xen guest note (GUEST_OS %q, want \"osv\"); is it OSv's loader-stripped.elf?", ErrKernel, path, guest)
	case !pvh:
		return nil, fmt.Errorf("%w: %s: no PVH entry note (Xen PHYS32_ENTRY): QEMU -kernel cannot boot it", ErrKernel, path)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: .dynsym: %v", ErrKernel, path, err)
	}
	k.Exports = make(map[string]bool, len(syms))
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF && elf.ST_BIND(s.Info) != elf.STB_LOCAL {
			k.Exports[s.Name] = true
		}
	}
	for _, name := range supplied {
		if bytes.Contains(data, []byte("\x00"+name+"\x00")) {
			k.Supplied = append(k.Supplied, name)
		}
	}
	k.NeedsVDSOFile = bytes.Contains(data, []byte(vdsoLookupText))
	if m := versionRE.FindSubmatch(data); m != nil {
		k.Version = string(m[1])
	}
	sum := sha256.Sum256(data)
	k.ELF, k.SHA256 = data, hex.EncodeToString(sum[:])
	return k, nil
}

// Supplies reports whether the kernel provides the library soname.
func (k *Kernel) Supplies(soname string) bool { return slices.Contains(k.Supplied, soname) }

// xenNotes returns the Xen GUEST_OS note's text and whether a PVH entry
// note is there, from the ELF's note segments (the notes OSv's kernel
// carries, arch/x64/entry-xen.S).
func xenNotes(f *elf.File) (guest string, pvh bool) {
	notes, _ := elfnote.Segments(f) // the notes read before a bad segment count
	if n, ok := elfnote.Find(notes, elfnote.XenOwner, elfnote.XenGuestOS); ok {
		guest = string(bytes.TrimRight(n.Desc, "\x00"))
	}
	_, pvh = elfnote.Find(notes, elfnote.XenOwner, elfnote.XenPhys32Entry)
	return guest, pvh
}
