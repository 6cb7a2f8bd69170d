package elfnote

import (
	"bytes"
	"debug/elf"
	"testing"
)

// FuzzELFNotes: Parse never panics and returns notes that fit in what it
// was given; read as an ELF file, the same bytes' note segments
// (Segments) never panic either. Seeds: the note segments of Debian's
// vmlinux, OSv's loader.elf and /bin/true, and a small ELF file with
// OSv's notes (testdata/fuzz/FuzzELFNotes).
func FuzzELFNotes(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		used := 0
		for _, n := range Parse(b) {
			used += 12 + len(n.Owner) + len(n.Desc)
		}
		if used > len(b) {
			t.Fatalf("notes of %d bytes from %d", used, len(b))
		}
		if ef, err := elf.NewFile(bytes.NewReader(b)); err == nil {
			Segments(ef)
			ef.Close()
		}
	})
}
