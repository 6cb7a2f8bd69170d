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

// unxzKernel decodes a single-block xz stream (the format of Linux's
// CONFIG_KERNEL_XZ payload: an x86 BCJ filter and LZMA2, CRC32 check).
// LZMA2 is github.com/ulikunitz/xz/lzma's; the container (stream header,
// block header, index, footer) is read here because that library's xz
// reader knows no BCJ filter. The block's check and the index's
// uncompressed size are verified. stream may carry trailing bytes after
// the stream footer (the kernel appends its size): at most 8 are ignored.
func unxzKernel(stream []byte) ([]byte, error) {
	if len(stream) < 12+12 || !bytes.HasPrefix(stream, []byte("\xfd7zXZ\x00")) {
		return nil, fmt.Errorf("%w: no xz stream header", ErrXZ)
	}
	flags := stream[6:8]
	if crc32.ChecksumIEEE(flags) != binary.LittleEndian.Uint32(stream[8:12]) {
		return nil, fmt.Errorf("%w: stream header CRC32 mismatch", ErrXZ)
	}
	checkType := flags[1] & 0x0F
	checkSize := map[byte]int{0x00: 0, 0x01: 4, 0x04: 8, 0x0A: 32}
	csize, ok := checkSize[checkType]
	if flags[0] != 0 || !ok {
		return nil, fmt.Errorf("%w: stream flags %#x: want check none, CRC32, CRC64 or SHA-256", ErrXZ, flags)
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
	footer := stream[end-12 : end]
	if !bytes.Equal(footer[8:10], flags) {
		return nil, fmt.Errorf("%w: footer flags differ from the header's", ErrXZ)
	}
	backward := (int(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
	indexAt := end - 12 - backward
	if indexAt < 12 {
		return nil, fmt.Errorf("%w: index size %d beyond the stream", ErrXZ, backward)
	}
	idx := bytes.NewReader(stream[indexAt : end-12])
	if b, _ := idx.ReadByte(); b != 0 {
		return nil, fmt.Errorf("%w: no index indicator", ErrXZ)
	}
	nrec, err1 := binary.ReadUvarint(idx)
	unpadded, err2 := binary.ReadUvarint(idx)
	usize, err3 := binary.ReadUvarint(idx)
	if err := errors.Join(err1, err2, err3); err != nil || nrec != 1 {
		return nil, fmt.Errorf("%w: index: want one block (%d records, %v)", ErrXZ, nrec, err)
	}
	// The block header.
	hsize := (int(stream[12]) + 1) * 4
	if 12+hsize > indexAt {
		return nil, fmt.Errorf("%w: block header size %d beyond the stream", ErrXZ, hsize)
	}
	hdr := stream[12 : 12+hsize]
	if crc32.ChecksumIEEE(hdr[:hsize-4]) != binary.LittleEndian.Uint32(hdr[hsize-4:]) {
		return nil, fmt.Errorf("%w: block header CRC32 mismatch", ErrXZ)
	}
	hr := bytes.NewReader(hdr[2 : hsize-4])
	bflags := hdr[1]
	if bflags&0x40 != 0 { // compressed size present
		binary.ReadUvarint(hr)
	}
	if bflags&0x80 != 0 { // uncompressed size present
		binary.ReadUvarint(hr)
	}
	var filters []uint64
	var dictProp byte
	for range int(bflags&0x03) + 1 {
		id, err := binary.ReadUvarint(hr)
		if err != nil {
			return nil, fmt.Errorf("%w: block header: %v", ErrXZ, err)
		}
		n, err := binary.ReadUvarint(hr)
		if err != nil || n > uint64(hr.Len()) {
			return nil, fmt.Errorf("%w: block header: filter %#x properties", ErrXZ, id)
		}
		props := make([]byte, n)
		io.ReadFull(hr, props)
		switch {
		case id == xzFilterX86 && (n == 0 || (n == 4 && binary.LittleEndian.Uint32(props) == 0)):
		case id == xzFilterLZMA2 && n == 1 && props[0] <= 40:
			dictProp = props[0]
		default:
			return nil, fmt.Errorf("%w: filter %#x with %d property bytes: want x86 BCJ (start offset 0) and LZMA2", ErrXZ, id, n)
		}
		filters = append(filters, id)
	}
	if filters[len(filters)-1] != xzFilterLZMA2 || len(filters) > 2 {
		return nil, fmt.Errorf("%w: filters %#x: want [x86 BCJ] then LZMA2", ErrXZ, filters)
	}
	csz := int(unpadded) - hsize - csize
	dataAt := 12 + hsize
	checkAt := dataAt + (csz+3)&^3
	if csz <= 0 || checkAt+csize > indexAt {
		return nil, fmt.Errorf("%w: block size %d out of the stream", ErrXZ, unpadded)
	}
	dict := (2 | int(dictProp&1)) << (dictProp/2 + 11)
	dict = max(dict, lzma.MinDictCap)
	zr, err := lzma.Reader2Config{DictCap: dict}.NewReader2(bytes.NewReader(stream[dataAt : dataAt+csz]))
	if err != nil {
		return nil, fmt.Errorf("%w: LZMA2: %v", ErrXZ, err)
	}
	out := bytes.NewBuffer(make([]byte, 0, usize))
	if _, err := io.Copy(out, zr); err != nil {
		return nil, fmt.Errorf("%w: LZMA2: %v", ErrXZ, err)
	}
	data := out.Bytes()
	if uint64(len(data)) != usize {
		return nil, fmt.Errorf("%w: %d bytes decoded, the index says %d", ErrXZ, len(data), usize)
	}
	if filters[0] == xzFilterX86 {
		unBCJx86(data)
	}
	check := stream[checkAt : checkAt+csize]
	var got []byte
	switch checkType {
	case 0x01:
		got = binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case 0x04:
		got = binary.LittleEndian.AppendUint64(nil, crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)))
	case 0x0A:
		s := sha256.Sum256(data)
		got = s[:]
	}
	if !bytes.Equal(got, check) {
		return nil, fmt.Errorf("%w: check mismatch: the decoded kernel is corrupt", ErrXZ)
	}
	return data, nil
}
