package linuximage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// ErrXZ is wrapped by every error of an xz stream that cannot be decoded.
var ErrXZ = errors.New("xz stream")

// xz filter IDs (the .xz file format, section 5.3).
const (
	xzFilterX86   = 0x04
	xzFilterLZMA2 = 0x21
)

// maxKernelBytes bounds the uncompressed kernel an xz payload may hold,
// in bytes. Debian's vmlinux is about 66 MB; 512 MiB is far beyond any
// kernel a bzImage carries, and a stream whose index claims more is
// refused before anything is allocated.
const maxKernelBytes = 512 << 20

// maxDictBytes bounds the LZMA2 dictionary allocated to decode, in bytes.
// Linux's xz_wrap.sh compresses with a 32 MiB dictionary and xz's largest
// preset uses 64 MiB. The dictionary is allocated whole before decoding,
// so a claim is first cut to the uncompressed size (no match reaches
// further back than that); a stream that needs more than this is refused.
const maxDictBytes = 128 << 20

// xzCheckSizes are the sizes in bytes of the block checks unxzKernel
// verifies, by check type (none, CRC32, CRC64, SHA-256).
var xzCheckSizes = map[byte]int{0x00: 0, 0x01: 4, 0x04: 8, 0x0A: 32}

// unxzKernel decodes a single-block xz stream (the format of Linux's
// CONFIG_KERNEL_XZ payload: an x86 BCJ filter and LZMA2, CRC32 check).
// LZMA2 is github.com/ulikunitz/xz/lzma's; the container (stream header,
// block header, index, footer) is read here because that library's xz
// reader knows no BCJ filter. Every CRC32 of the container, the block's
// check and the index's sizes are verified. stream may carry trailing
// bytes after the stream footer (the kernel appends its size): at most 8
// are ignored. The result is at most maxKernelBytes long.
func unxzKernel(stream []byte) ([]byte, error) {
	return unxz(stream, maxKernelBytes)
}

// xzLayout is where the parts of a single-block xz stream are, as offsets
// into the stream, and what the container says of them.
type xzLayout struct {
	checkType byte
	checkSize int
	indexAt   int // the index, up to the footer
	end       int // the end of the footer (trailing bytes follow)
	dataAt    int // the block's compressed data
	dataLen   int // its length (without the block padding)
	checkAt   int // the block's check, checkSize bytes
	usize     int // the uncompressed size (the index's)
	filters   []uint64
	dictBytes int64 // the LZMA2 dictionary size the block header gives
	// compressedSize and uncompressedSize are the block header's, -1
	// when it gives none.
	compressedSize, uncompressedSize int64
}

// unxz is unxzKernel with the bound on the uncompressed size given
// (limit, bytes).
func unxz(stream []byte, limit int) ([]byte, error) {
	l, err := parseXZ(stream, limit)
	if err != nil {
		return nil, err
	}
	// A dictionary larger than the data is never used.
	dict := min(l.dictBytes, int64(l.usize))
	if dict > maxDictBytes {
		return nil, fmt.Errorf("%w: LZMA2 dictionary of %d MiB for %d MiB of data: over the %d MiB decoded here", ErrXZ, l.dictBytes>>20, l.usize>>20, maxDictBytes>>20)
	}
	dict = max(dict, lzma.MinDictCap)
	compressed := bytes.NewReader(stream[l.dataAt : l.dataAt+l.dataLen])
	zr, err := lzma.Reader2Config{DictCap: int(dict)}.NewReader2(compressed)
	if err != nil {
		return nil, fmt.Errorf("%w: LZMA2: %v", ErrXZ, err)
	}
	// The index's size is what the data should decode to, not what it
	// does: the buffer grows with what really decodes, from at most 16
	// times the compressed size (a kernel compresses about 8 to 1).
	data, err := readExactly(zr, l.usize, min(l.usize, 16*l.dataLen))
	if err != nil {
		return nil, err
	}
	if compressed.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes of the block after the LZMA2 end marker", ErrXZ, compressed.Len())
	}
	if len(l.filters) == 2 {
		unBCJx86(data)
	}
	if !bytes.Equal(xzCheck(l.checkType, data), stream[l.checkAt:l.checkAt+l.checkSize]) {
		return nil, fmt.Errorf("%w: check mismatch: the decoded kernel is corrupt", ErrXZ)
	}
	return data, nil
}

// readExactly reads r to its end, which must come after exactly n bytes,
// into a buffer of initial capacity start grown as data arrives (never
// beyond n).
func readExactly(r io.Reader, n, start int) ([]byte, error) {
	buf := make([]byte, 0, start)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, max(2*cap(buf), 64<<10)))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: LZMA2: %v", ErrXZ, err)
		}
	}
	if len(buf) < n {
		return nil, fmt.Errorf("%w: %d bytes decoded, the index says %d", ErrXZ, len(buf), n)
	}
	var one [1]byte
	for {
		m, err := r.Read(one[:])
		if m > 0 {
			return nil, fmt.Errorf("%w: the data decodes to more than the %d bytes the index says", ErrXZ, n)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: LZMA2: %v", ErrXZ, err)
		}
	}
}

// xzCheck is the block check of data of the type given (CRC32, CRC64,
// SHA-256, or none), as the stream stores it.
func xzCheck(checkType byte, data []byte) []byte {
	switch checkType {
	case 0x01:
		return binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case 0x04:
		return binary.LittleEndian.AppendUint64(nil, crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)))
	case 0x0A:
		s := sha256.Sum256(data)
		return s[:]
	}
	return []byte{}
}

// parseXZ reads the container of a single-block xz stream: stream header,
// footer, index, block header. No size it gives is trusted before it is
// checked against the stream's length (offsets) or limit (the
// uncompressed size).
func parseXZ(stream []byte, limit int) (*xzLayout, error) {
	if len(stream) < 12+12 || !bytes.HasPrefix(stream, []byte("\xfd7zXZ\x00")) {
		return nil, fmt.Errorf("%w: no xz stream header", ErrXZ)
	}
	flags := stream[6:8]
	if crc32.ChecksumIEEE(flags) != binary.LittleEndian.Uint32(stream[8:12]) {
		return nil, fmt.Errorf("%w: stream header CRC32 mismatch", ErrXZ)
	}
	l := &xzLayout{checkType: flags[1]}
	var ok bool
	if l.checkSize, ok = xzCheckSizes[l.checkType]; flags[0] != 0 || !ok {
		return nil, fmt.Errorf("%w: stream flags % x: want check none, CRC32, CRC64 or SHA-256", ErrXZ, flags)
	}
	// The footer: CRC32, backward size, flags, "YZ".
	end := -1
	for e := len(stream); e >= len(stream)-8 && e >= 24; e -= 4 {
		if string(stream[e-2:e]) == "YZ" {
			end = e
			break
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("%w: no stream footer (\"YZ\") at the end", ErrXZ)
	}
	l.end = end
	footer := stream[end-12 : end]
	if crc32.ChecksumIEEE(footer[4:10]) != binary.LittleEndian.Uint32(footer[:4]) {
		return nil, fmt.Errorf("%w: stream footer CRC32 mismatch", ErrXZ)
	}
	if !bytes.Equal(footer[8:10], flags) {
		return nil, fmt.Errorf("%w: footer flags differ from the header's", ErrXZ)
	}
	backward := (int64(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
	if backward > int64(end-12-12) {
		return nil, fmt.Errorf("%w: index size %d beyond the stream", ErrXZ, backward)
	}
	l.indexAt = end - 12 - int(backward)
	unpadded, usize, err := parseXZIndex(stream[l.indexAt : end-12])
	if err != nil {
		return nil, err
	}
	if usize > uint64(limit) {
		return nil, fmt.Errorf("%w: index: uncompressed size %d over the %d MiB a kernel may have", ErrXZ, usize, limit>>20)
	}
	l.usize = int(usize)
	// The block: header, compressed data, padding to 4 bytes, check; the
	// index follows at once (one block).
	hsize, err := parseXZBlockHeader(stream[12:l.indexAt], l)
	if err != nil {
		return nil, err
	}
	l.dataAt = 12 + hsize
	// unpadded = header + compressed data + check; the padding makes the
	// block end at indexAt. Compared first in uint64: it may be anything.
	blockSpace := uint64(l.indexAt - 12)
	if unpadded > blockSpace || unpadded < uint64(hsize+l.checkSize)+1 {
		return nil, fmt.Errorf("%w: index: block size %d does not fit the %d bytes between the stream header and the index", ErrXZ, unpadded, blockSpace)
	}
	l.dataLen = int(unpadded) - hsize - l.checkSize
	l.checkAt = l.dataAt + (l.dataLen+3)&^3
	if l.checkAt+l.checkSize != l.indexAt {
		return nil, fmt.Errorf("%w: index: block size %d leaves %d bytes before the index", ErrXZ, unpadded, l.indexAt-l.checkAt-l.checkSize)
	}
	if !allZero(stream[l.dataAt+l.dataLen : l.checkAt]) {
		return nil, fmt.Errorf("%w: block padding not zero", ErrXZ)
	}
	if l.compressedSize >= 0 && l.compressedSize != int64(l.dataLen) {
		return nil, fmt.Errorf("%w: block header says %d compressed bytes, the index %d", ErrXZ, l.compressedSize, l.dataLen)
	}
	if l.uncompressedSize >= 0 && uint64(l.uncompressedSize) != usize {
		return nil, fmt.Errorf("%w: block header says %d uncompressed bytes, the index %d", ErrXZ, l.uncompressedSize, usize)
	}
	return l, nil
}

// parseXZIndex reads an index of one record (indicator, record count,
// unpadded and uncompressed size, padding, CRC32) that fills idx.
func parseXZIndex(idx []byte) (unpadded, usize uint64, err error) {
	if len(idx) < 8 || idx[0] != 0 {
		return 0, 0, fmt.Errorf("%w: no index indicator", ErrXZ)
	}
	body, sum := idx[:len(idx)-4], idx[len(idx)-4:]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(sum) {
		return 0, 0, fmt.Errorf("%w: index CRC32 mismatch", ErrXZ)
	}
	r := bytes.NewReader(body[1:])
	nrec, err1 := readXZInt(r)
	unpadded, err2 := readXZInt(r)
	usize, err3 := readXZInt(r)
	if err := errors.Join(err1, err2, err3); err != nil || nrec != 1 {
		return 0, 0, fmt.Errorf("%w: index: want one block (%d records, %v)", ErrXZ, nrec, err)
	}
	if pad := body[len(body)-r.Len():]; len(pad) > 3 || !allZero(pad) {
		return 0, 0, fmt.Errorf("%w: index: %d bytes after the record, want up to 3 zeros", ErrXZ, len(pad))
	}
	return unpadded, usize, nil
}

// parseXZBlockHeader reads the block header at the start of b into l (its
// filters, dictionary size and the sizes it may give) and returns its
// size in bytes.
func parseXZBlockHeader(b []byte, l *xzLayout) (int, error) {
	if len(b) == 0 || b[0] == 0 {
		return 0, fmt.Errorf("%w: no block (an index where the block header should be)", ErrXZ)
	}
	hsize := (int(b[0]) + 1) * 4 // 8 to 1024
	if hsize > len(b) {
		return 0, fmt.Errorf("%w: block header size %d beyond the stream", ErrXZ, hsize)
	}
	hdr := b[:hsize]
	if crc32.ChecksumIEEE(hdr[:hsize-4]) != binary.LittleEndian.Uint32(hdr[hsize-4:]) {
		return 0, fmt.Errorf("%w: block header CRC32 mismatch", ErrXZ)
	}
	bflags := hdr[1]
	if bflags&0x3C != 0 {
		return 0, fmt.Errorf("%w: block flags %#x: reserved bits set", ErrXZ, bflags)
	}
	hr := bytes.NewReader(hdr[2 : hsize-4])
	l.compressedSize, l.uncompressedSize = -1, -1
	for _, f := range []struct {
		bit  byte
		what string
		to   *int64
	}{{0x40, "compressed size", &l.compressedSize}, {0x80, "uncompressed size", &l.uncompressedSize}} {
		if bflags&f.bit == 0 {
			continue
		}
		v, err := readXZInt(hr)
		if err != nil || v == 0 {
			return 0, fmt.Errorf("%w: block header: %s %d, %v", ErrXZ, f.what, v, err)
		}
		*f.to = int64(v)
	}
	nfilters := int(bflags&0x03) + 1
	if nfilters > 2 {
		return 0, fmt.Errorf("%w: %d filters: want [x86 BCJ] then LZMA2", ErrXZ, nfilters)
	}
	for i := range nfilters {
		last := i == nfilters-1
		id, err := readXZInt(hr)
		if err != nil {
			return 0, fmt.Errorf("%w: block header: filter ID: %v", ErrXZ, err)
		}
		n, err := readXZInt(hr)
		if err != nil || n > uint64(hr.Len()) {
			return 0, fmt.Errorf("%w: block header: filter %#x properties", ErrXZ, id)
		}
		props := make([]byte, n)
		io.ReadFull(hr, props)
		switch {
		case id == xzFilterX86 && !last && (n == 0 || (n == 4 && binary.LittleEndian.Uint32(props) == 0)):
		case id == xzFilterLZMA2 && last && n == 1 && props[0] <= 40:
			p := props[0]
			l.dictBytes = int64(2|p&1) << (p/2 + 11)
		default:
			return 0, fmt.Errorf("%w: filter %d of %d: %#x with %d property bytes: want [x86 BCJ (start offset 0)] then LZMA2", ErrXZ, i+1, nfilters, id, n)
		}
		l.filters = append(l.filters, id)
	}
	if rest := hdr[hsize-4-hr.Len() : hsize-4]; !allZero(rest) {
		return 0, fmt.Errorf("%w: block header padding not zero", ErrXZ)
	}
	return hsize, nil
}

// readXZInt reads an xz multibyte integer: at most 9 bytes, 63 bits.
func readXZInt(r io.ByteReader) (uint64, error) {
	v, err := binary.ReadUvarint(r)
	if err == nil && v > 1<<63-1 {
		err = errors.New("integer over 63 bits")
	}
	return v, err
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
