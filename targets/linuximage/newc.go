package linuximage

import (
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// newcWriter writes a cpio archive in the "newc" format the kernel unpacks
// as an initramfs. It is written here rather than taken from
// github.com/cavaliergopher/cpio because that library cannot write device
// numbers, and the initramfs needs /dev/console (the kernel opens it for
// init's standard streams; Go's runtime aborts without them).
type newcWriter struct {
	w     io.Writer
	ino   int64
	n     int64 // bytes written
	dirs  map[string]bool
	files int
	// mtime of every entry (Unix seconds). Not 0: NSD, for one, takes a
	// zone file dated 1970 for unchanged and never loads it.
	mtime int64
}

// Mode bits of the entries (as in stat(2)).
const (
	modeDir     = 0o040000
	modeReg     = 0o100000
	modeSymlink = 0o120000
	modeChar    = 0o020000
)

func newNewcWriter(w io.Writer) *newcWriter {
	return &newcWriter{w: w, dirs: map[string]bool{".": true, "/": true, "": true}, mtime: time.Now().Unix()}
}

func (a *newcWriter) write(p []byte) error {
	n, err := a.w.Write(p)
	a.n += int64(n)
	return err
}

func (a *newcWriter) pad() error {
	if r := a.n % 4; r != 0 {
		return a.write(make([]byte, 4-r))
	}
	return nil
}

// entry writes one header, name and data.
func (a *newcWriter) entry(name string, mode uint32, rmaj, rmin uint32, data []byte) error {
	a.ino++
	nlink := 1
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		a.ino, mode, 0, 0, nlink, a.mtime, len(data), 0, 0, rmaj, rmin, len(name)+1, 0)
	if err := a.write([]byte(hdr)); err != nil {
		return err
	}
	if err := a.write(append([]byte(name), 0)); err != nil {
		return err
	}
	if err := a.pad(); err != nil {
		return err
	}
	if err := a.write(data); err != nil {
		return err
	}
	return a.pad()
}

func clean(name string) string { return strings.TrimPrefix(path.Clean("/"+name), "/") }

// Dir adds a directory and its missing parents.
func (a *newcWriter) Dir(name string) error {
	name = clean(name)
	if a.dirs[name] {
		return nil
	}
	if err := a.Dir(path.Dir(name)); err != nil {
		return err
	}
	a.dirs[name] = true
	return a.entry(name, modeDir|0o755, 0, 0, nil)
}

// File adds a regular file (and its parent directories).
func (a *newcWriter) File(name string, perm uint32, data []byte) error {
	name = clean(name)
	if err := a.Dir(path.Dir(name)); err != nil {
		return err
	}
	a.files++
	return a.entry(name, modeReg|perm, 0, 0, data)
}

// Symlink adds a symbolic link.
func (a *newcWriter) Symlink(name, target string) error {
	name = clean(name)
	if err := a.Dir(path.Dir(name)); err != nil {
		return err
	}
	return a.entry(name, modeSymlink|0o777, 0, 0, []byte(target))
}

// CharDev adds a character device node.
func (a *newcWriter) CharDev(name string, perm, major, minor uint32) error {
	name = clean(name)
	if err := a.Dir(path.Dir(name)); err != nil {
		return err
	}
	return a.entry(name, modeChar|perm, major, minor, nil)
}

// Close writes the trailer.
func (a *newcWriter) Close() error { return a.entry("TRAILER!!!", 0, 0, 0, nil) }
