package linuximage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
)

// xzParts are the parts of a single-block xz stream that assembleXZ puts
// together with valid CRC32s, so that a test can make a stream lie about
// one thing and be right about everything else.
type xzParts struct {
	flags       [2]byte // stream flags (check type)
	blockHeader []byte  // size byte to padding, without the CRC32
	body        []byte  // compressed data, padding, check
	index       []byte  // indicator to padding, without the CRC32
}

// splitXZ cuts a well-formed single-block stream (xz's own) into parts.
func splitXZ(t *testing.T, s []byte) xzParts {
	t.Helper()
	hsize := (int(s[12]) + 1) * 4
	footer := s[len(s)-12:]
	backward := (int(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
	indexAt := len(s) - 12 - backward
	return xzParts{
		flags:       [2]byte{s[6], s[7]},
		blockHeader: bytes.Clone(s[12 : 12+hsize-4]),
		body:        bytes.Clone(s[12+hsize : indexAt]),
		index:       bytes.Clone(s[indexAt : len(s)-12-4]),
	}
}

func (p xzParts) assemble() []byte {
	le := binary.LittleEndian
	s := append([]byte("\xfd7zXZ\x00"), p.flags[:]...)
	s = le.AppendUint32(s, crc32.ChecksumIEEE(p.flags[:]))
	s = append(s, p.blockHeader...)
	s = le.AppendUint32(s, crc32.ChecksumIEEE(p.blockHeader))
	s = append(s, p.body...)
	s = append(s, p.index...)
	s = le.AppendUint32(s, crc32.ChecksumIEEE(p.index))
	tail := le.AppendUint32(nil, uint32((len(p.index)+4)/4-1))
	tail = append(tail, p.flags[:]...)
	s = le.AppendUint32(s, crc32.ChecksumIEEE(tail))
	s = append(s, tail...)
	return append(s, "YZ"...)
}

// xzIndex is an index of one record.
func xzIndex(unpadded, usize uint64) []byte {
	idx := []byte{0, 1}
	idx = binary.AppendUvarint(idx, unpadded)
	idx = binary.AppendUvarint(idx, usize)
	for len(idx)%4 != 0 {
		idx = append(idx, 0)
	}
	return idx
}

// TestUnxzKernelHostileStreams: streams whose CRC32s are all right but
// whose sizes lie (a block header of size 0, an uncompressed size of
// hundreds of MiB or 2^62, a 3 GiB dictionary, a block size near 2^63)
// are refused, or decoded, without a panic and without allocating what
// they claim.
func TestUnxzKernelHostileStreams(t *testing.T) {
	data := branchyBytes(4096)
	// A 1 MiB dictionary, so that the budget holds it and nothing else
	// of that size.
	real := splitXZ(t, xzCompress(t, data, "--x86", "--lzma2=dict=1MiB", "--check=crc32"))
	withIndex := func(usize uint64) []byte {
		p := real
		// The index's unpadded size is the real one: read it back.
		r := bytes.NewReader(p.index[2:])
		u, _ := binary.ReadUvarint(r)
		p.index = xzIndex(u, usize)
		return p.assemble()
	}
	const budget = 4 << 20 // bytes: the dictionary, a few times the 4 KiB of data, LZMA2's tables
	for _, tc := range []struct {
		name   string
		stream func() []byte
		want   string // in the error; "" for a stream that decodes to data
	}{
		{"block header size 0", func() []byte {
			// 36 bytes: header, a "block header" of four zero bytes (their
			// CRC32 is that of nothing: 0), index, footer.
			return xzParts{flags: [2]byte{0, 1}, blockHeader: []byte{}, index: xzIndex(8, 1)}.assemble()
		}, "no block"},
		{"uncompressed 400 MiB", func() []byte { return withIndex(400 << 20) }, "index says"},
		{"uncompressed 772 MiB", func() []byte { return withIndex(772 << 20) }, "over the 512 MiB"},
		{"uncompressed 64 GiB", func() []byte { return withIndex(64 << 30) }, "over the 512 MiB"},
		{"uncompressed 2^62", func() []byte { return withIndex(1 << 62) }, "over the 512 MiB"},
		{"uncompressed 2^64-1", func() []byte { return withIndex(1<<64 - 1) }, "over 63 bits"},
		{"dictionary 3 GiB", func() []byte {
			p := real
			p.blockHeader = bytes.Clone(p.blockHeader)
			at := bytes.Index(p.blockHeader, []byte{xzFilterLZMA2, 1})
			p.blockHeader[at+2] = 39 // 3 << 30
			return p.assemble()
		}, ""},
		{"block size 2^63-1", func() []byte {
			p := real
			p.index = xzIndex(1<<63-1, uint64(len(data)))
			return p.assemble()
		}, "block size"},
		{"block size 2^62", func() []byte {
			p := real
			p.index = xzIndex(1<<62, uint64(len(data)))
			return p.assemble()
		}, "block size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := tc.stream()
			var got []byte
			var err error
			n := testbin.Allocated(func() { got, err = unxzKernel(stream) })
			if n > budget {
				t.Errorf("%d-byte stream: %d bytes allocated, want at most %d", len(stream), n, budget)
			}
			t.Logf("%d-byte stream: %d bytes allocated, %v", len(stream), n, err)
			if tc.want == "" {
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%d bytes, %v; want the %d bytes compressed", len(got), err, len(data))
				}
				return
			}
			if !errors.Is(err, ErrXZ) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v; want ErrXZ saying %q", err, tc.want)
			}
		})
	}
}
