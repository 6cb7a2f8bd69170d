// Package elfnote reads ELF notes: the Xen notes by which QEMU's -kernel
// boots an ELF kernel through its PVH entry (the Linux guest's vmlinux,
// OSv's loader), and any other.
package elfnote

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
)

// Xen ELF notes (xen/include/public/elfnote.h).
const (
	// XenOwner is the notes' owner name.
	XenOwner = "Xen"
	// XenGuestOS (XEN_ELFNOTE_GUEST_OS) names the guest OS ("osv").
	XenGuestOS = 6
	// XenPhys32Entry (XEN_ELFNOTE_PHYS32_ENTRY) holds the kernel's 32-bit
	// PVH entry point; QEMU boots an ELF -kernel through it.
	XenPhys32Entry = 18
)

// Note is one ELF note.
type Note struct {
	Owner string
	Type  uint32
	Desc  []byte
}

// Parse walks a note section's or segment's bytes (namesz, descsz, type,
// name, desc; name and desc 4-byte aligned, little-endian). It stops at a
// note that does not fit, returning those before it.
func Parse(b []byte) []Note {
	var notes []Note
	for len(b) >= 12 {
		namesz := uint64(binary.LittleEndian.Uint32(b))
		descsz := uint64(binary.LittleEndian.Uint32(b[4:]))
		typ := binary.LittleEndian.Uint32(b[8:])
		nameEnd := 12 + align4(namesz)
		end := nameEnd + align4(descsz)
		if end > uint64(len(b)) {
			break
		}
		notes = append(notes, Note{Owner: string(bytes.TrimRight(b[12:12+namesz], "\x00")), Type: typ, Desc: b[nameEnd : nameEnd+descsz]})
		b = b[end:]
	}
	return notes
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// Segments returns the notes of f's PT_NOTE program headers (what a boot
// loader reads).
func Segments(f *elf.File) ([]Note, error) {
	var notes []Note
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return notes, fmt.Errorf("ELF note segment at %#x: %w", p.Off, err)
		}
		notes = append(notes, Parse(b)...)
	}
	return notes, nil
}

// Find returns the first note of the owner and type.
func Find(notes []Note, owner string, typ uint32) (Note, bool) {
	for _, n := range notes {
		if n.Owner == owner && n.Type == typ {
			return n, true
		}
	}
	return Note{}, false
}
