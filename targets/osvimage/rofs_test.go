package osvimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// rofsReader reads a ROFS image from the format's description alone
// (rofs.hh, gen-rofs-img.py), sharing no code with the writer, and checks
// the format's rules as it goes.
type rofsReader struct {
	img     []byte
	sb      [8]uint64
	entries []readEntry
	links   []string
	inodes  [][4]uint64 // mode, number, offset, size or count
}

type readEntry struct {
	ino  uint64
	name string
}

func readROFS(t *testing.T, img []byte) *rofsReader {
	t.Helper()
	if len(img)%512 != 0 {
		t.Fatalf("image of %d bytes: not whole 512-byte blocks", len(img))
	}
	r := &rofsReader{img: img}
	for i := range r.sb {
		r.sb[i] = binary.LittleEndian.Uint64(img[8*i:])
	}
	if r.sb[0] != 0xDEADBEAD || r.sb[1] != 1 || r.sb[2] != 512 {
		t.Fatalf("superblock magic %#x version %d block size %d", r.sb[0], r.sb[1], r.sb[2])
	}
	first, count := r.sb[3], r.sb[4]
	if count == 0 || (first+count)*512 != uint64(len(img)) {
		t.Fatalf("structure at block %d, %d blocks; image has %d blocks", first, count, len(img)/512)
	}
	p := img[first*512:]
	for i := uint64(0); i < r.sb[5]; i++ {
		ino := binary.LittleEndian.Uint64(p)
		n := int(binary.LittleEndian.Uint16(p[8:]))
		r.entries = append(r.entries, readEntry{ino, string(p[10 : 10+n])})
		p = p[10+n:]
	}
	for i := uint64(0); i < r.sb[6]; i++ {
		n := int(binary.LittleEndian.Uint16(p))
		r.links = append(r.links, string(p[2:2+n]))
		p = p[2+n:]
	}
	for i := uint64(0); i < r.sb[7]; i++ {
		var in [4]uint64
		in[0] = uint64(binary.LittleEndian.Uint32(p))
		if pad := binary.LittleEndian.Uint32(p[4:]); pad != 0 {
			t.Errorf("inode %d: padding %#x", i+1, pad)
		}
		for j := 1; j < 4; j++ {
			in[j] = binary.LittleEndian.Uint64(p[8*j:])
		}
		if in[1] != i+1 {
			t.Errorf("inode at index %d has number %d, want %d", i, in[1], i+1)
		}
		r.inodes = append(r.inodes, in)
		p = p[32:]
	}
	for _, b := range p {
		if b != 0 {
			t.Fatal("structure's last block not zero-padded")
		}
	}
	return r
}

// walk lists every path with its inode, checking directory and file rules.
func (r *rofsReader) walk(t *testing.T) map[string][4]uint64 {
	t.Helper()
	out := map[string][4]uint64{}
	used := map[uint64]bool{}
	var visit func(p string, ino uint64)
	visit = func(p string, ino uint64) {
		in := r.inodes[ino-1]
		out[p] = in
		switch in[0] {
		case 0o040000:
			// Children contiguous: entries offset .. offset+count-1.
			if in[2]+in[3] > uint64(len(r.entries)) {
				t.Fatalf("%s: entries %d+%d past the table (%d)", p, in[2], in[3], len(r.entries))
			}
			for i := in[2]; i < in[2]+in[3]; i++ {
				if used[i] {
					t.Errorf("entry %d belongs to two directories", i)
				}
				used[i] = true
				e := r.entries[i]
				visit(strings.TrimSuffix(p, "/")+"/"+e.name, e.ino)
			}
		case 0o100000:
			if in[2] < 1 || (in[2]+(in[3]+511)/512) > r.sb[3] {
				t.Errorf("%s: data at block %d, %d bytes, outside the data area (blocks 1..%d)", p, in[2], in[3], r.sb[3])
			}
		case 0o120000:
			if in[2] >= uint64(len(r.links)) || in[3] != 1 {
				t.Errorf("%s: symlink %d (count %d) of %d", p, in[2], in[3], len(r.links))
			}
		default:
			t.Errorf("%s: mode %#o", p, in[0])
		}
	}
	visit("/", 1)
	if len(used) != len(r.entries) {
		t.Errorf("%d of %d directory entries reachable", len(used), len(r.entries))
	}
	if len(out) != len(r.inodes) {
		t.Errorf("%d of %d inodes reachable", len(out), len(r.inodes))
	}
	return out
}

func (r *rofsReader) file(in [4]uint64) []byte {
	return r.img[in[2]*512 : in[2]*512+in[3]]
}

func writeFS(t *testing.T, fs *FS) []byte {
	t.Helper()
	var b bytes.Buffer
	n, err := fs.WriteTo(&b)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(b.Len()) || n != fs.Size() {
		t.Fatalf("WriteTo returned %d, wrote %d, Size says %d", n, b.Len(), fs.Size())
	}
	return b.Bytes()
}

func TestROFSRoundTrip(t *testing.T) {
	fs := NewFS()
	files := map[string][]byte{
		"/etc/fstab":                            []byte("/dev/vblk0.1 / rofs defaults 0 0\n"),
		"/usr/lib/libx.so":                      bytes.Repeat([]byte{0xab}, 1500), // 3 blocks, the last one partial
		"/usr/lib/exact":                        bytes.Repeat([]byte{1}, 512),     // exactly one block
		"/empty":                                {},
		"/usr/lib/empty-too":                    {},
		"/ünïcødé-näme":                         []byte("x"), // names count bytes, not characters
		"/" + strings.Repeat("n", MaxNameBytes): []byte("longest name"),
	}
	for p, d := range files {
		if err := fs.File(p, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/tmp", "/usr"} {
		if err := fs.Dir(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Symlink("/usr/lib/liby.so.1", "libx.so"); err != nil {
		t.Fatal(err)
	}
	img := writeFS(t, fs)
	r := readROFS(t, img)
	got := r.walk(t)
	for p, d := range files {
		in, ok := got[p]
		if !ok || in[0] != ModeFile {
			t.Errorf("%s: missing or not a file (%v)", p, in)
			continue
		}
		if !bytes.Equal(r.file(in), d) {
			t.Errorf("%s: read %d bytes back, wrote %d (or different)", p, in[3], len(d))
		}
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/tmp", "/usr", "/usr/lib", "/etc"} {
		if got[d][0] != ModeDir {
			t.Errorf("%s: not a directory", d)
		}
	}
	if in := got["/usr/lib/liby.so.1"]; in[0] != ModeSymlink || r.links[in[2]] != "libx.so" {
		t.Errorf("symlink: %v", in)
	}
	// Empty files take no block: the data area holds exactly the blocks
	// of the non-empty files.
	want := uint64(1) // the superblock
	for _, d := range files {
		want += uint64((len(d) + 511) / 512)
	}
	if r.sb[3] != want {
		t.Errorf("structure starts at block %d, want %d (superblock + files' blocks, none for empty files)", r.sb[3], want)
	}
	// Files' last blocks are zero-padded.
	lib := got["/usr/lib/libx.so"]
	if tail := img[lib[2]*512+1500 : (lib[2]+3)*512]; !bytes.Equal(tail, make([]byte, len(tail))) {
		t.Error("last block of a file not zero-padded")
	}
	// A name's length is its byte length.
	for _, e := range r.entries {
		if strings.HasPrefix(e.name, "ünï") && e.name != "ünïcødé-näme" {
			t.Errorf("multi-byte name read back as %q", e.name)
		}
	}
}

func TestROFSEmptyTree(t *testing.T) {
	r := readROFS(t, writeFS(t, NewFS()))
	if got := r.walk(t); len(got) != 1 || r.sb[3] != 1 || r.sb[4] != 1 {
		t.Errorf("empty tree: %v, superblock %v", got, r.sb)
	}
}

func TestROFSRefusesNames(t *testing.T) {
	fs := NewFS()
	fs.File("/a", []byte("x"))
	for _, p := range []string{
		"/" + strings.Repeat("n", MaxNameBytes+1),
		"relative",
		"/a/b", // a is a file
		"/a",   // twice
		"/x\x00y",
		"/d/../e",
	} {
		err := fs.File(p, nil)
		if !errors.Is(err, ErrName) {
			t.Errorf("File(%q): %v, want ErrName", p, err)
		}
	}
	if err := fs.Symlink("/l", strings.Repeat("t", MaxSymlinkBytes+1)); !errors.Is(err, ErrName) {
		t.Errorf("over-long symlink: %v", err)
	}
	err := fs.File("/usr/lib/"+strings.Repeat("n", 300), nil)
	if err == nil || !strings.Contains(err.Error(), "300 bytes") {
		t.Errorf("error %v does not say the name's length", err)
	}
}

// The same tree, built in any order, is the same bytes.
func TestROFSDeterministic(t *testing.T) {
	build := func(order []int) []byte {
		fs := NewFS()
		for _, i := range order {
			fs.File(fmt.Sprintf("/d%d/f%d", i%3, i), bytes.Repeat([]byte{byte(i)}, i*100))
		}
		return writeFS(t, fs)
	}
	a, b := build([]int{1, 2, 3, 4, 5, 6, 7}), build([]int{7, 3, 5, 1, 6, 2, 4})
	if !bytes.Equal(a, b) {
		t.Error("insertion order changed the image")
	}
}

func TestDiskMBR(t *testing.T) {
	fs := NewFS()
	fs.File("/f", bytes.Repeat([]byte{7}, 5000))
	var b bytes.Buffer
	n, err := WriteDisk(&b, fs)
	if err != nil || n != int64(b.Len()) {
		t.Fatal(n, err)
	}
	d := b.Bytes()
	if d[510] != 0x55 || d[511] != 0xaa {
		t.Fatal("no MBR signature")
	}
	for i := 0; i < 4; i++ {
		e := d[0x1be+16*i : 0x1be+16*i+16]
		if i != 1 {
			if !bytes.Equal(e, make([]byte, 16)) {
				t.Errorf("entry %d not empty", i)
			}
			continue
		}
		start, size := binary.LittleEndian.Uint32(e[8:]), binary.LittleEndian.Uint32(e[12:])
		if e[4] == 0 || e[2]&0x3f == 0 {
			t.Errorf("entry 1: type %#x, CHS sector %d: OSv would skip it", e[4], e[2]&0x3f)
		}
		if int(start+size)*512 != len(d) {
			t.Errorf("partition %d+%d sectors, disk %d", start, size, len(d)/512)
		}
		readROFS(t, d[start*512:]).walk(t)
	}
}
