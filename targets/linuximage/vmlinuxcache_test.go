package linuximage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/elfnote"
	"github.com/ukbench/ukbench/internal/filesum"
	"github.com/ukbench/ukbench/internal/privdir"
)

// pvhELF is a minimal x86-64 ELF file whose one program header is a
// PT_NOTE holding a Xen PHYS32_ENTRY note, padded with branchy bytes to
// size: what PVHKernel takes for a kernel it can boot through PVH.
func pvhELF(size int) []byte {
	le := binary.LittleEndian
	note := le.AppendUint32(nil, 4) // namesz
	note = le.AppendUint32(note, 4) // descsz
	note = le.AppendUint32(note, elfnote.XenPhys32Entry)
	note = append(note, "Xen\x00"...)
	note = le.AppendUint32(note, 0x1000000)
	const ehsize, phsize = 64, 56
	b := make([]byte, ehsize+phsize)
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[16:], 2)  // ET_EXEC
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], ehsize) // e_phoff
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], 1) // e_phnum
	ph := b[ehsize:]
	le.PutUint32(ph[0:], 4)                  // PT_NOTE
	le.PutUint64(ph[8:], uint64(len(b)))     // p_offset
	le.PutUint64(ph[32:], uint64(len(note))) // p_filesz
	le.PutUint64(ph[40:], uint64(len(note))) // p_memsz
	b = append(b, note...)
	return append(b, branchyBytes(max(0, size-len(b)))...)
}

// TestPVHKernelReextractsDamage: a cached vmlinux changed at its size
// (one byte) or without the record of
// its digest (an earlier ukbench's) is extracted again, saying so, and
// the result is the kernel; a killed extraction's private directory is
// removed; Build refuses to link a vmlinux that is not what was
// extracted.
func TestPVHKernelReextractsDamage(t *testing.T) {
	vmlinux := pvhELF(64 << 10)
	bz := fakeBzImage(t, xzCompress(t, vmlinux, "--x86", "--lzma2=dict=1MiB", "--check=crc32"))
	dir := t.TempDir()
	killed := filepath.Join(dir, privdir.Prefix+"vmlinux-999-1")
	os.Mkdir(killed, 0o700)
	os.WriteFile(filepath.Join(killed, privdir.LockName), nil, 0o600)
	var log bytes.Buffer
	p, err := PVHKernel(bz, dir, &log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(killed); err == nil || !strings.Contains(log.String(), killed) {
		t.Errorf("a killed extraction's directory: stat %v, log %q; want it removed, saying so", err, log.String())
	}
	check := func(what, want string) {
		t.Helper()
		log.Reset()
		again, err := PVHKernel(bz, dir, &log)
		if err != nil || again != p {
			t.Fatalf("%s: %q, %v", what, again, err)
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, vmlinux) {
			t.Errorf("%s: the vmlinux is not the kernel", what)
		}
		if !strings.Contains(log.String(), "extracting it again") || !strings.Contains(log.String(), want) {
			t.Errorf("%s: log %q; want it extracted again, saying %q", what, log.String(), want)
		}
	}
	f, _ := os.OpenFile(p, os.O_WRONLY, 0)
	f.WriteAt([]byte{0xAA}, 30000)
	f.Close()
	check("one byte changed", "SHA-256")
	os.Remove(filesum.StampPath(p))
	check("no record", "no record")
	log.Reset()
	if _, err := PVHKernel(bz, dir, &log); err != nil || log.Len() != 0 {
		t.Errorf("intact: %v, log %q; want it used as it is", err, log.String())
	}

	// Build links only what was extracted.
	f, _ = os.OpenFile(p, os.O_WRONLY, 0)
	f.WriteAt([]byte{0xAA}, 30000)
	f.Close()
	out := filepath.Join(t.TempDir(), "img")
	_, err = Build(context.Background(), Options{App: AppHTTP, Kernel: fakeKernel(t), Vmlinux: p, Binary: staticTestBinary(t), OutDir: out})
	if !errors.Is(err, filesum.ErrMismatch) || !strings.Contains(err.Error(), p) {
		t.Errorf("Build with a damaged vmlinux: %v; want ErrMismatch naming it", err)
	}
	if _, err := os.Stat(filepath.Join(out, "vmlinux")); err == nil {
		t.Error("the damaged vmlinux was linked into the image")
	}
}
