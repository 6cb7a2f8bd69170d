package linuximage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"

	"github.com/ulikunitz/xz"
)

// fuzzKernelBytes bounds what the fuzz targets decode (16 MiB, not 512):
// the same code, quicker executions.
const fuzzKernelBytes = 16 << 20

// fixXZCRCs rewrites, in place and where they fit, the CRC32s of what
// looks like an xz stream's header, block header, index and footer (the
// footer at the very end), so that the fuzzer's changes reach what the
// CRC32s protect. It never panics.
func fixXZCRCs(s []byte) {
	le := binary.LittleEndian
	if len(s) < 12 {
		return
	}
	le.PutUint32(s[8:], crc32.ChecksumIEEE(s[6:8]))
	if len(s) > 12 && s[12] != 0 {
		if h := (int(s[12]) + 1) * 4; 12+h <= len(s) {
			le.PutUint32(s[12+h-4:], crc32.ChecksumIEEE(s[12:12+h-4]))
		}
	}
	if len(s) < 24 {
		return
	}
	footer := s[len(s)-12:]
	backward := (int(le.Uint32(footer[4:8])) + 1) * 4
	if at := len(s) - 12 - backward; at >= 12 && backward >= 8 {
		le.PutUint32(s[len(s)-16:], crc32.ChecksumIEEE(s[at:len(s)-16]))
	}
	le.PutUint32(footer, crc32.ChecksumIEEE(footer[4:10]))
}

// FuzzXZStream: unxz never panics, never returns more than its bound,
// and what it decodes from a stream without the x86 filter is what
// github.com/ulikunitz/xz decodes from it. fix makes the CRC32s right
// first (fixXZCRCs). Seeds: streams xz-utils made, the kernel's trailing
// size, and the streams that crashed the decoder or made it allocate
// gigabytes (testdata/fuzz/FuzzXZStream).
func FuzzXZStream(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte, fix bool) {
		if fix {
			stream = bytes.Clone(stream)
			fixXZCRCs(stream)
		}
		data, err := unxz(stream, fuzzKernelBytes)
		if err != nil {
			if !errors.Is(err, ErrXZ) {
				t.Fatalf("error without ErrXZ: %v", err)
			}
			return
		}
		if len(data) > fuzzKernelBytes {
			t.Fatalf("%d bytes decoded, over the %d bound", len(data), fuzzKernelBytes)
		}
		l, err := parseXZ(stream, fuzzKernelBytes)
		if err != nil {
			t.Fatalf("decoded, yet the container is refused: %v", err)
		}
		if len(l.filters) != 1 {
			return
		}
		// Without BCJ, it is a plain xz stream, once trailing bytes are cut.
		zr, err := xz.NewReader(bytes.NewReader(stream[:l.end]))
		if err != nil {
			t.Fatalf("decoded %d bytes; github.com/ulikunitz/xz refuses the stream: %v", len(data), err)
		}
		want, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("decoded %d bytes; github.com/ulikunitz/xz fails: %v", len(data), err)
		}
		if !bytes.Equal(data, want) {
			t.Fatalf("decoded %d bytes, github.com/ulikunitz/xz %d, different", len(data), len(want))
		}
	})
}

// FuzzBzImage: extracting the vmlinux from a bzImage (setup header,
// payload, xz) and looking for its PVH note never panics. Seeds: small
// bzImages (setup header, payload xz-utils compressed from an ELF with a
// PVH note, or gzip), the head of Debian's bzImage (testdata/fuzz/FuzzBzImage).
func FuzzBzImage(f *testing.F) {
	f.Fuzz(func(t *testing.T, bz []byte) {
		vmlinux, err := extractVmlinux(bz)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(vmlinux, []byte("\x7fELF")) {
			t.Fatalf("extracted %d bytes that are no ELF file", len(vmlinux))
		}
		checkPVHNote(vmlinux)
	})
}
