package linuximage

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ukbench/ukbench/internal/elfnote"
	"github.com/ukbench/ukbench/internal/filesum"
	"github.com/ukbench/ukbench/internal/privdir"
	"github.com/ukbench/ukbench/internal/regfile"
)

// Boot paths of a Linux guest: QEMU's -kernel given the uncompressed ELF
// kernel enters it through its PVH entry point (no firmware, no
// decompressor: about half the boot under TCG), or the distribution's
// bzImage, booted through SeaBIOS and its own decompressor.
const (
	BootPVH     = "pvh"
	BootBzImage = "bzimage"
)

// ErrNoPVH says a kernel cannot be booted through PVH; the reason follows.
// The guest boots the bzImage instead.
var ErrNoPVH = errors.New("no PVH boot")

// PVHKernel returns the uncompressed kernel (vmlinux) inside a bzImage,
// extracted once into dir (dir/vmlinux-SHA16, SHA16 the bzImage's digest)
// and reused after, once checked against the size and SHA-256 recorded
// when it was extracted (filesum; a stamp beside it): one that differs,
// or was extracted without a record, is extracted again, saying so to
// log (if not nil). It fails with ErrNoPVH when the bzImage's payload is
// not xz (Debian's is) or the vmlinux has no PVH entry note
// (XEN_ELFNOTE_PHYS32_ENTRY, CONFIG_PVH): properties of the kernel, so
// the verdict is remembered beside (noPVHSuffix). Every other failure (a
// file that is no bzImage, a corrupt or undecodable payload, I/O) is an
// error and remembered nowhere: a decoder bug or a bad read must not
// downgrade a kernel to the bzImage for good. The extraction is written
// in a private directory in dir (internal/privdir), whose leftovers, of
// an extraction that was killed, are removed first.
func PVHKernel(bzImage, dir string, log io.Writer) (string, error) {
	data, err := regfile.ReadFile(bzImage, maxBzImageBytes)
	if err != nil {
		return "", fmt.Errorf("kernel: %w", err)
	}
	sum := sha256.Sum256(data)
	dst := filepath.Join(dir, "vmlinux-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(dst); err == nil {
		_, err := filesum.VerifyRecorded(dst)
		if err == nil {
			return dst, nil
		}
		logTo(log, "kernel: the cached vmlinux cannot be used (%v): extracting it again from %s", err, bzImage)
	}
	if why, err := os.ReadFile(dst + noPVHSuffix); err == nil {
		return "", fmt.Errorf("%w: %s", ErrNoPVH, why)
	}
	vmlinux, err := extractVmlinux(data)
	if err == nil {
		err = checkPVHNote(vmlinux)
	}
	if err != nil && !errors.Is(err, ErrNoPVH) {
		return "", fmt.Errorf("%s: %w", bzImage, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err != nil {
		// Remembered (with the file's name), so that the next boot does
		// not decompress again. The text after ErrNoPVH's is kept.
		why := bzImage + ": " + strings.TrimPrefix(err.Error(), ErrNoPVH.Error()+": ")
		os.WriteFile(dst+noPVHSuffix, []byte(why), 0o644)
		return "", fmt.Errorf("%w: %s", ErrNoPVH, why)
	}
	if err := writeVmlinux(dst, vmlinux, log); err != nil {
		return "", fmt.Errorf("kernel: writing %s: %w", dst, err)
	}
	return dst, nil
}

// maxBzImageBytes bounds a bzImage read (bytes). Debian's is about 8 MB;
// a boot loader puts the whole file in low memory.
const maxBzImageBytes = 256 << 20

// writeVmlinux writes the extracted vmlinux to dst through a private
// directory beside it, then records its size and digest.
func writeVmlinux(dst string, vmlinux []byte, log io.Writer) error {
	dir := filepath.Dir(dst)
	if removed, _ := privdir.SweepIn(dir); len(removed) > 0 {
		logTo(log, "kernel: removed %v, left by an interrupted extraction", removed)
	}
	priv, err := privdir.MakeIn(dir, "vmlinux")
	if err != nil {
		return err
	}
	defer priv.Remove()
	tmp := filepath.Join(priv.Path, filepath.Base(dst))
	if err := os.WriteFile(tmp, vmlinux, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	sum := sha256.Sum256(vmlinux)
	return filesum.Record(dst, filesum.Sum{Bytes: int64(len(vmlinux)), SHA256: hex.EncodeToString(sum[:])})
}

func logTo(log io.Writer, format string, args ...any) {
	if log != nil {
		fmt.Fprintf(log, format+"\n", args...)
	}
}

// BootKernel returns the vmlinux an image of k boots through PVH
// (PVHKernel, kept in k.VmlinuxDir, else in cacheDir/vmlinux), or "" and
// why not, when the image must boot the bzImage. log is PVHKernel's.
func BootKernel(k *Kernel, cacheDir string, log io.Writer) (vmlinux, noPVH string, err error) {
	dir := k.VmlinuxDir
	if dir == "" {
		dir = filepath.Join(cacheDir, "vmlinux")
	}
	vmlinux, err = PVHKernel(k.Image, dir, log)
	if errors.Is(err, ErrNoPVH) {
		return "", err.Error(), nil
	}
	if err != nil {
		return "", "", fmt.Errorf("kernel %s: %w", k.Image, err)
	}
	return vmlinux, "", nil
}

// noPVHSuffix marks, beside where the vmlinux would be, a bzImage that
// cannot boot through PVH (the file holds the reason). Its version is
// raised whenever what PVHKernel takes for "cannot" changes, so that old
// verdicts are not believed (v1 took every failure for one).
const noPVHSuffix = ".nopvh-v2"

// extractVmlinux returns the ELF kernel compressed in a bzImage: the
// payload the x86 boot protocol's setup header locates (payload_offset
// and payload_length, protocol 2.08 and later, from the end of the real-
// mode setup code), when it is xz.
func extractVmlinux(bz []byte) ([]byte, error) {
	if len(bz) < 0x250 || string(bz[0x202:0x206]) != "HdrS" {
		return nil, errors.New("not a bzImage (no HdrS setup header at 0x202)")
	}
	if v := binary.LittleEndian.Uint16(bz[0x206:]); v < 0x208 {
		return nil, fmt.Errorf("boot protocol %#x: the payload's place is given from 2.08 on", v)
	}
	setupSects := int(bz[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	off := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(bz[0x248:]))
	n := int(binary.LittleEndian.Uint32(bz[0x24c:]))
	if off+n > len(bz) || n <= 0 {
		return nil, fmt.Errorf("payload %d+%d beyond the %d-byte bzImage", off, n, len(bz))
	}
	payload := bz[off : off+n]
	if !bytes.HasPrefix(payload, []byte("\xfd7zXZ\x00")) {
		return nil, fmt.Errorf("%w: payload starts % x, not xz (only an xz payload is extracted)", ErrNoPVH, payload[:min(6, len(payload))])
	}
	vmlinux, err := unxzKernel(payload)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(vmlinux, []byte(elf.ELFMAG)) {
		return nil, errors.New("the decompressed payload is not an ELF file")
	}
	return vmlinux, nil
}

// checkPVHNote fails with ErrNoPVH unless the ELF kernel has a PVH entry
// note.
func checkPVHNote(vmlinux []byte) error {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return fmt.Errorf("vmlinux: %w", err)
	}
	defer f.Close()
	notes, err := elfnote.Segments(f)
	if err != nil {
		return fmt.Errorf("vmlinux: %w", err)
	}
	if _, ok := elfnote.Find(notes, elfnote.XenOwner, elfnote.XenPhys32Entry); !ok {
		return fmt.Errorf("%w: vmlinux has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY: a kernel built without CONFIG_PVH)", ErrNoPVH)
	}
	return nil
}
