package linuximage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/ukbench/ukbench/internal/testbin"
)

// xzCompress runs xz-utils over data with the given filter options (a
// Debian host has xz; the test skips, saying so, where it is missing).
func xzCompress(t *testing.T, data []byte, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("xz"); err != nil {
		testbin.SkipOrFail(t, "xz not found (xz-utils, installed on Debian by default): the xz fixtures are made with it")
	}
	cmd := exec.Command("xz", append(append([]string{"--format=xz"}, args...), "-c")...)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %v: %v: %s", args, err, stderr.Bytes())
	}
	return out
}

// branchyBytes is n bytes dense in what the x86 BCJ filter looks at:
// CALL/JMP opcodes (E8, E9), often adjacent, and the 00/FF high bytes
// that make it convert an operand, among random ones.
func branchyBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		switch p := r.IntN(100); {
		case p < 25:
			b[i] = 0xE8
		case p < 35:
			b[i] = 0xE9
		case p < 55:
			b[i] = 0x00
		case p < 70:
			b[i] = 0xFF
		default:
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

// blockCheckAt is where an xz stream's (single) block check starts: just
// before the index, which the footer's backward size locates.
func blockCheckAt(stream []byte, checkSize int) int {
	footer := stream[len(stream)-12:]
	backward := (int(binary.LittleEndian.Uint32(footer[4:8])) + 1) * 4
	return len(stream) - 12 - backward - checkSize
}

// TestUnxzKernel: streams made by xz-utils the way Linux's xz_wrap.sh
// makes the kernel's (x86 BCJ, LZMA2, CRC32) decode to the bytes given,
// over data full of branch opcodes, a real program and a size that is
// no multiple of anything; so do the other checks and LZMA2 alone.
func TestUnxzKernel(t *testing.T) {
	prog, err := os.ReadFile("/bin/true")
	if err != nil {
		prog = nil
	}
	inputs := map[string][]byte{
		"branchy":    branchyBytes(1<<20 + 7),
		"tiny":       {0xE8, 0, 0, 0, 0, 0xE9},
		"zeros":      make([]byte, 100_003),
		"/bin/true":  prog,
		"branchy-4k": branchyBytes(4096),
	}
	filters := map[string][]string{
		"x86+lzma2/crc32":  {"--x86", "--lzma2", "--check=crc32"},
		"x86+lzma2/crc64":  {"--x86", "--lzma2", "--check=crc64"},
		"x86+lzma2/sha256": {"--x86", "--lzma2=preset=1", "--check=sha256"},
		"lzma2/crc32":      {"--lzma2", "--check=crc32"},
	}
	for in, data := range inputs {
		if data == nil {
			continue
		}
		for fname, args := range filters {
			t.Run(in+"/"+fname, func(t *testing.T) {
				got, err := unxzKernel(xzCompress(t, data, args...))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("decoded %d bytes differ from the %d given", len(got), len(data))
				}
			})
		}
	}
}

// TestUnxzKernelRefusesCorruptStreams: a corrupt block check, corrupt
// data and cut streams are ErrXZ errors (never a panic, never bytes); the
// kernel's 4 trailing size bytes are ignored, more garbage is refused.
func TestUnxzKernelRefusesCorruptStreams(t *testing.T) {
	data := branchyBytes(256 << 10)
	stream := xzCompress(t, data, "--x86", "--lzma2", "--check=crc32")

	t.Run("trailing size", func(t *testing.T) {
		withSize := binary.LittleEndian.AppendUint32(bytes.Clone(stream), uint32(len(data)))
		got, err := unxzKernel(withSize)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("with the kernel's trailing size: %d bytes, %v", len(got), err)
		}
	})
	t.Run("trailing garbage", func(t *testing.T) {
		for _, n := range []int{3, 12, 100} {
			if _, err := unxzKernel(append(bytes.Clone(stream), bytes.Repeat([]byte{0xAB}, n)...)); !errors.Is(err, ErrXZ) {
				t.Errorf("%d garbage bytes after the stream: %v, want ErrXZ", n, err)
			}
		}
	})
	t.Run("corrupt check", func(t *testing.T) {
		bad := bytes.Clone(stream)
		bad[blockCheckAt(bad, 4)] ^= 0x01
		if _, err := unxzKernel(bad); !errors.Is(err, ErrXZ) {
			t.Fatalf("corrupt CRC32: %v, want ErrXZ", err)
		}
	})
	t.Run("corrupt data", func(t *testing.T) {
		for _, at := range []int{40, len(stream) / 2, blockCheckAt(stream, 4) - 1} {
			bad := bytes.Clone(stream)
			bad[at] ^= 0x40
			if got, err := unxzKernel(bad); err == nil {
				t.Errorf("byte %d flipped: decoded %d bytes without an error", at, len(got))
			}
		}
	})
	t.Run("cut", func(t *testing.T) {
		for _, n := range []int{0, 6, 12, 23, 24, 30, len(stream) / 2, len(stream) - 13, len(stream) - 1} {
			if _, err := unxzKernel(stream[:n]); !errors.Is(err, ErrXZ) {
				t.Errorf("first %d of %d bytes: %v, want ErrXZ", n, len(stream), err)
			}
		}
	})
}
