package osvimage

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"

	"github.com/ukbench/ukbench/internal/elfnote"
	"github.com/ukbench/ukbench/internal/regfile"
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

// maxKernelBytes bounds an OSv kernel, in bytes: the file, and what a
// gzip file decompresses to. OSv's loader-stripped.elf is about 7 MB
// (tens of MB with its debug symbols), and QEMU copies the kernel into a
// guest of a few hundred MiB; a larger file is not a kernel ukbench can
// boot, and reading it whole would cost that much memory. A variable so
// that a test can lower it.
var maxKernelBytes int64 = 256 << 20

// kernelWanted says what ReadKernel wants, for its errors.
const kernelWanted = "want loader-stripped.elf from an OSv build or a release's osv-loader.elf.x86_64.gz"

// ReadKernel reads and checks an OSv kernel: an x86-64 ELF with OSv's Xen
// guest note and a PVH entry, plain or gzip-compressed. Only a regular
// file of at most maxKernelBytes is read, and only when its first bytes
// are an ELF or gzip header (a gzip file's decompressed ones an ELF
// header); it decompresses to at most maxKernelBytes. Errors wrap
// ErrKernel and name the file.
func ReadKernel(path string) (*Kernel, error) {
	data, gz, err := readKernelFile(path)
	if err != nil {
		return nil, err
	}
	k := &Kernel{Path: path, Gzip: gz}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not an ELF file (%v); %s", ErrKernel, path, err, kernelWanted)
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

// readKernelFile reads the kernel file at path: an ELF file as it is, a
// gzip file decompressed (gz true). It looks at the first bytes before
// reading on, and reads at most maxKernelBytes of either.
func readKernelFile(path string) (data []byte, gz bool, err error) {
	f, st, err := regfile.Open(path, maxKernelBytes)
	switch {
	case errors.Is(err, regfile.ErrNotRegular) || errors.Is(err, regfile.ErrTooLarge):
		return nil, false, fmt.Errorf("%w: %w; %s", ErrKernel, err, kernelWanted)
	case err != nil:
		return nil, false, fmt.Errorf("kernel: %w", err)
	}
	defer f.Close()
	var head [4]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, false, fmt.Errorf("kernel: %s: %w", path, err)
	}
	switch {
	case bytes.Equal(head[:n], []byte(elf.ELFMAG)):
		data = make([]byte, st.Size())
		copy(data, head[:])
		if _, err := io.ReadFull(f, data[n:]); err != nil {
			return nil, false, fmt.Errorf("kernel: %s: %w (it changed while read?)", path, err)
		}
		return data, false, nil
	case n >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		data, err := gunzipKernel(f, st.Size())
		if err != nil {
			return nil, true, fmt.Errorf("%w: %s: gzip: %w", ErrKernel, path, err)
		}
		return data, true, nil
	}
	return nil, false, fmt.Errorf("%w: %s: not an ELF file (it starts % x, not 7f 45 4c 46) nor a gzip one (1f 8b); %s", ErrKernel, path, head[:n], kernelWanted)
}

// errGzipNoELF: a gzip file that does not hold an ELF file.
var errGzipNoELF = errors.New("does not hold an ELF file")

// gunzipKernel decompresses the gzip file f (size bytes) holding an ELF
// kernel: its first four decompressed bytes must be the ELF magic, and it
// must end within maxKernelBytes.
func gunzipKernel(f *os.File, size int64) ([]byte, error) {
	// The last member's ISIZE (its size mod 2^32) sizes the buffer: a
	// hint, believed up to 16 times the file's size (a kernel compresses
	// about 3 to 1); the buffer grows with what really decompresses.
	var isize [4]byte
	hint := int64(0)
	if _, err := f.ReadAt(isize[:], size-4); err == nil {
		hint = min(int64(binary.LittleEndian.Uint32(isize[:])), 16*size, maxKernelBytes)
	}
	zr, err := gzip.NewReader(io.NewSectionReader(f, 0, size))
	if err != nil {
		return nil, fmt.Errorf("%v (truncated or corrupt download?)", err)
	}
	var head [4]byte
	if n, err := io.ReadFull(zr, head[:]); err != nil || !bytes.Equal(head[:], []byte(elf.ELFMAG)) {
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, fmt.Errorf("%v (truncated or corrupt download?)", err)
		}
		return nil, fmt.Errorf("%w: it decompresses to bytes starting % x, not an ELF header (7f 45 4c 46)", errGzipNoELF, head[:n])
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(hint, 4)))
	buf.Write(head[:])
	n, err := buf.ReadFrom(io.LimitReader(zr, maxKernelBytes+1-4))
	if err != nil {
		return nil, fmt.Errorf("%v (truncated or corrupt download?)", err)
	}
	if n+4 > maxKernelBytes {
		return nil, fmt.Errorf("it decompresses to more than %s, the most an OSv kernel may have", regfile.Size(maxKernelBytes))
	}
	return buf.Bytes(), nil
}
