package osvimage

import (
	"encoding/binary"
	"io"
)

// The disk OSv mounts its ROFS root from: an MBR whose second partition
// entry holds the file system, which OSv names /dev/vblk0.1 (fs/devfs/
// device.cc numbers partitions by their entry's index; loader.cc mounts
// /dev/vblk0.1 as root). The kernel boots with QEMU -kernel, so the disk
// carries no boot code and the partition starts at sector 1, as OSv's
// scripts/build places it when the loader is not on the disk.
const (
	// PartitionEntry is the index of the MBR entry holding ROFS.
	PartitionEntry = 1
	// RootDevice is the device OSv mounts as root.
	RootDevice = "/dev/vblk0.1"
	// partitionStart is the partition's first sector.
	partitionStart = 1
	// partitionType is Linux's (0x83), as OSv's imgedit.py writes it.
	partitionType = 0x83
	mbrEntries    = 0x1be
	mbrEntrySize  = 16
)

// mbr returns the disk's first sector for a file system of fsBytes bytes (a
// whole number of blocks).
func mbr(fsBytes int64) []byte {
	s := make([]byte, BlockSize)
	sectors := uint32(fsBytes / BlockSize)
	e := s[mbrEntries+PartitionEntry*mbrEntrySize:]
	putCHS(e[1:4], partitionStart)
	e[4] = partitionType
	putCHS(e[5:8], partitionStart+sectors-1)
	binary.LittleEndian.PutUint32(e[8:], partitionStart)
	binary.LittleEndian.PutUint32(e[12:], sectors)
	s[510], s[511] = 0x55, 0xaa
	return s
}

// putCHS writes a sector's cylinder-head-sector address (255 heads, 63
// sectors a track; past cylinder 1023 the maximum), as imgedit.py does.
// OSv skips an entry whose sector field is 0, which this never writes.
func putCHS(b []byte, lba uint32) {
	c, h, sec := lba/63/255, lba/63%255, lba%63+1
	if c > 1023 {
		c, h, sec = 1023, 254, 63
	}
	b[0] = byte(h)
	b[1] = byte(sec) | byte(c>>8)<<6
	b[2] = byte(c)
}

// WriteDisk writes the whole disk, the MBR then the file system, and
// returns its size in bytes.
func WriteDisk(w io.Writer, fs *FS) (int64, error) {
	n, err := w.Write(mbr(fs.Size()))
	if err != nil {
		return int64(n), err
	}
	m, err := fs.WriteTo(w)
	return int64(n) + m, err
}
