package osvimage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// ROFS, OSv's read-only file system, as OSv's fs/rofs/rofs.hh and
// scripts/gen-rofs-img.py define it. In 512-byte blocks:
//
//	block 0       the superblock (struct rofs_super_block: eight uint64)
//	blocks 1..    each file's data from a block of its own, the last block
//	              zero-padded; an empty file has no block
//	then          the structure: directory entries (uint64 inode number,
//	              uint16 name length in bytes, the name), symlinks (uint16
//	              length, the path), inodes (struct rofs_inode: mode as a
//	              uint32 and 4 bytes of padding, inode number, data offset,
//	              file size or children count, 32 bytes), zero-padded to a
//	              block
//
// Inode N is at index N-1 (OSv indexes the table by number); inode 1 is the
// root. A directory's data offset is the index of its first entry in the
// entry table and its count the number of entries, which are contiguous; a
// file's offset is its first block, a symlink's the index of its path in
// the symlink table. All integers are little-endian. OSv takes only the
// type bits of a mode (it gives every file 0555), so the writer stores
// those alone, as gen-rofs-img.py does.
const (
	// BlockSize is ROFS's block and OSv's sector: 512 bytes.
	BlockSize = 512
	// ROFSMagic and ROFSVersion open the superblock.
	ROFSMagic   = 0xDEADBEAD
	ROFSVersion = 1
	// InodeSize is the size of struct rofs_inode on x86-64, in bytes.
	InodeSize = 32
	// MaxNameBytes is the longest file name, in bytes: the format's uint16
	// would hold more, but OSv's readdir copies names into a dirent's
	// 256-byte d_name, so a longer one would be listed cut short.
	MaxNameBytes = 255
	// MaxSymlinkBytes is the longest symlink target (a uint16 length).
	MaxSymlinkBytes = 1<<16 - 1
)

// Inode types, as OSv's S_ISDIR, S_ISREG and S_ISLNK read them.
const (
	ModeDir     = 0o040000
	ModeFile    = 0o100000
	ModeSymlink = 0o120000
)

// ErrName: a path holds a name ROFS cannot hold (empty, ".", "..", longer
// than MaxNameBytes, or with a NUL), or an entry clashes with another.
var ErrName = errors.New("name ROFS cannot hold")

// FS is a ROFS tree being built. Paths are absolute and slash-separated;
// parents are made as needed. The bytes written depend only on the tree:
// each directory's children are ordered by name.
type FS struct {
	root *node
}

type node struct {
	mode     uint32
	data     []byte // file content (owned by the FS once added)
	target   string // symlink target
	children map[string]*node
}

// NewFS returns an FS holding the root directory alone.
func NewFS() *FS {
	return &FS{root: &node{mode: ModeDir, children: map[string]*node{}}}
}

// Dir adds a directory (and its parents); adding one that exists is no
// error.
func (fs *FS) Dir(p string) error {
	_, err := fs.walk(p, true)
	return err
}

// File adds a regular file holding data, which the FS keeps (the caller
// must not change it afterwards).
func (fs *FS) File(p string, data []byte) error {
	return fs.add(p, &node{mode: ModeFile, data: data})
}

// Symlink adds a symbolic link to target.
func (fs *FS) Symlink(p, target string) error {
	if len(target) == 0 || len(target) > MaxSymlinkBytes || strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("%w: symlink %s: target of %d bytes (want 1 to %d, no NUL)", ErrName, p, len(target), MaxSymlinkBytes)
	}
	return fs.add(p, &node{mode: ModeSymlink, target: target})
}

func (fs *FS) add(p string, n *node) error {
	dir, name := path.Split(p)
	parent, err := fs.walk(dir, true)
	if err != nil {
		return err
	}
	if err := checkName(p, name); err != nil {
		return err
	}
	if _, ok := parent.children[name]; ok {
		return fmt.Errorf("%w: %s added twice", ErrName, p)
	}
	parent.children[name] = n
	return nil
}

// walk returns the directory at p, making it (and its parents) when make
// is set.
func (fs *FS) walk(p string, make bool) (*node, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%w: %q is not an absolute path", ErrName, p)
	}
	n := fs.root
	for _, name := range strings.Split(strings.Trim(p, "/"), "/") {
		if name == "" {
			continue
		}
		if err := checkName(p, name); err != nil {
			return nil, err
		}
		c, ok := n.children[name]
		switch {
		case !ok && make:
			c = &node{mode: ModeDir, children: map[string]*node{}}
			n.children[name] = c
		case !ok:
			return nil, fmt.Errorf("%s: no such directory", p)
		case c.mode != ModeDir:
			return nil, fmt.Errorf("%w: %s: %s is not a directory", ErrName, p, name)
		}
		n = c
	}
	return n, nil
}

func checkName(p, name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%w: %q in %s", ErrName, name, p)
	case len(name) > MaxNameBytes:
		return fmt.Errorf("%w: %s: a name of %d bytes, at most %d", ErrName, p, len(name), MaxNameBytes)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: %q holds a NUL", ErrName, p)
	}
	return nil
}

// inode is one entry of the inode table.
type inode struct {
	mode        uint32
	no          uint64
	offset      uint64
	sizeOrCount uint64
	n           *node
}

type dirEntry struct {
	name string
	ino  uint64
}

// layout is the image the tree makes: its inodes in table order, the
// structure's bytes, and where the structure starts.
type layout struct {
	inodes      []*inode
	structure   []byte
	firstStruct uint64 // block
	entries     int
	links       int
}

// Size is the size of the image WriteTo writes, in bytes.
func (fs *FS) Size() int64 {
	l := fs.layout()
	return int64(l.firstStruct+blocksFor(len(l.structure))) * BlockSize
}

func (fs *FS) layout() layout {
	// Number the inodes breadth first: a directory's children get
	// consecutive numbers and consecutive entries.
	inodes := []*inode{{mode: ModeDir, no: 1, n: fs.root}}
	var entries []dirEntry
	var links []string
	block := uint64(1) // after the superblock
	for i := 0; i < len(inodes); i++ {
		in := inodes[i]
		switch in.mode {
		case ModeDir:
			names := make([]string, 0, len(in.n.children))
			for name := range in.n.children {
				names = append(names, name)
			}
			sort.Strings(names)
			in.offset, in.sizeOrCount = uint64(len(entries)), uint64(len(names))
			for _, name := range names {
				c := &inode{mode: in.n.children[name].mode, no: uint64(len(inodes) + 1), n: in.n.children[name]}
				inodes = append(inodes, c)
				entries = append(entries, dirEntry{name, c.no})
			}
		case ModeFile:
			// An empty file takes no block: its offset is where the next
			// file starts, as gen-rofs-img.py writes it.
			in.offset, in.sizeOrCount = block, uint64(len(in.n.data))
			block += blocksFor(len(in.n.data))
		case ModeSymlink:
			in.offset, in.sizeOrCount = uint64(len(links)), 1
			links = append(links, in.n.target)
		}
	}
	var structure bytes.Buffer
	le := binary.LittleEndian
	for _, e := range entries {
		structure.Write(le.AppendUint64(nil, e.ino))
		structure.Write(le.AppendUint16(nil, uint16(len(e.name))))
		structure.WriteString(e.name)
	}
	for _, l := range links {
		structure.Write(le.AppendUint16(nil, uint16(len(l))))
		structure.WriteString(l)
	}
	for _, in := range inodes {
		b := le.AppendUint32(nil, in.mode)
		b = append(b, 0, 0, 0, 0)
		b = le.AppendUint64(b, in.no)
		b = le.AppendUint64(b, in.offset)
		b = le.AppendUint64(b, in.sizeOrCount)
		structure.Write(b)
	}
	return layout{inodes: inodes, structure: structure.Bytes(), firstStruct: block, entries: len(entries), links: len(links)}
}

// WriteTo writes the file system image, a whole number of blocks, and
// returns its size in bytes.
func (fs *FS) WriteTo(w io.Writer) (int64, error) {
	l := fs.layout()
	sb := make([]byte, BlockSize)
	for i, v := range []uint64{ROFSMagic, ROFSVersion, BlockSize, l.firstStruct, blocksFor(len(l.structure)), uint64(l.entries), uint64(l.links), uint64(len(l.inodes))} {
		binary.LittleEndian.PutUint64(sb[8*i:], v)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := &countWriter{w: bw}
	cw.Write(sb)
	for _, in := range l.inodes {
		if in.mode == ModeFile {
			cw.Write(in.n.data)
			cw.pad()
		}
	}
	cw.Write(l.structure)
	cw.pad()
	if cw.err == nil {
		cw.err = bw.Flush()
	}
	return cw.n, cw.err
}

// blocksFor is the number of blocks n bytes take.
func blocksFor(n int) uint64 { return uint64((n + BlockSize - 1) / BlockSize) }

// countWriter counts what it writes and keeps the first error.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
	return n, err
}

// pad writes zeros up to the next block boundary.
func (c *countWriter) pad() {
	if r := c.n % BlockSize; r != 0 {
		c.Write(make([]byte, BlockSize-r))
	}
}
