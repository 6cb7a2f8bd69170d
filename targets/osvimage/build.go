package osvimage

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/ukbench/ukbench/internal/filesum"
	"github.com/ukbench/ukbench/internal/regfile"
	"github.com/ukbench/ukbench/targets/linuximage"
	"github.com/ukbench/ukbench/targets/servers"
)

// ErrVDSO: a Go program is composed for a kernel that takes libvdso.so from
// the disk, and none was given.
var ErrVDSO = errors.New("libvdso.so needed")

// fstab is /etc/fstab as OSv's ROFS images have it (static/etc/fstab_rofs).
const fstab = RootDevice + ` /          rofs      defaults 0 0
none         /dev       devfs     defaults 0 0
none         /proc      procfs    defaults 0 0
none         /sys       sysfs     defaults 0 0
none         /tmp       ramfs     defaults 0 0
`

// mountPoints are made on the disk: OSv mounts fstab's file systems there,
// and mkdir fails on a read-only root.
var mountPoints = []string{"/dev", "/proc", "/sys", "/tmp"}

// LibDir is where the application's libraries go, flat: OSv's loader
// searches /, /usr/lib and the RPATH only.
const LibDir = "/usr/lib"

// VDSOPath is where a v0.57 kernel looks for libvdso.so.
const VDSOPath = "/libvdso.so"

// Options says what image to compose.
type Options struct {
	App    string  // dns, http or lighttpd
	Kernel *Kernel // from ReadKernel
	// Binary is the PIE ukbench for dns and http (DefaultPIE).
	Binary string
	// Bootstrap is an OSv release's osv.bootstrap.mpm.x86_64 (a gzip tar)
	// to take libvdso.so from, for kernels that need it on the disk.
	Bootstrap string
	// Sockets is `serve dns --sockets` (default servers.DefaultDNSSockets).
	Sockets int
	OutDir  string
}

// Image is a composed OSv guest, written as image.json in its directory.
type Image struct {
	App           string   `json:"app"`
	KernelVersion string   `json:"kernel_version,omitempty"`
	KernelSource  string   `json:"kernel_source"` // the user's file
	Kernel        string   `json:"kernel"`        // file name in the image directory
	Disk          string   `json:"disk"`
	KernelBytes   int64    `json:"kernel_bytes"`
	DiskBytes     int64    `json:"disk_bytes"`
	KernelSHA256  string   `json:"kernel_sha256"`
	DiskSHA256    string   `json:"disk_sha256"`
	Cmdline       string   `json:"cmdline"`
	Ready         string   `json:"ready_line"`
	Libraries     []string `json:"libraries,omitempty"` // paths on the disk
	Supplied      []string `json:"kernel_supplies"`     // libraries left to the kernel
	VDSO          bool     `json:"libvdso,omitempty"`   // /libvdso.so on the disk
	Warnings      []string `json:"warnings,omitempty"`
	// Dir is the image's directory (not stored).
	Dir string `json:"-"`
}

// ImageFile is the description file in an image directory.
const ImageFile = "image.json"

// KernelPath and DiskPath are the absolute paths of the image's files.
func (im *Image) KernelPath() string { return filepath.Join(im.Dir, im.Kernel) }
func (im *Image) DiskPath() string   { return filepath.Join(im.Dir, im.Disk) }

// Build composes the image in o.OutDir: the kernel (uncompressed) and the
// disk. The same inputs give the same bytes. The preflight runs before
// anything is written.
func Build(ctx context.Context, o Options) (*Image, error) {
	if o.Kernel == nil {
		return nil, fmt.Errorf("%w: none given", ErrKernel)
	}
	if o.OutDir == "" {
		return nil, fmt.Errorf("image: no output directory")
	}
	if o.Sockets == 0 {
		o.Sockets = servers.DefaultDNSSockets
	}
	if o.Sockets < 0 || o.Sockets > servers.MaxDNSSockets {
		return nil, fmt.Errorf("image: sockets %d: want 1 to %d", o.Sockets, servers.MaxDNSSockets)
	}
	a, err := appFor(o.App, o.Binary, o.Sockets)
	if err != nil {
		return nil, err
	}
	objs, libs, err := collect(ctx, o.Kernel, a)
	if err != nil {
		return nil, err
	}
	warnings, err := preflight(o.Kernel, objs, a.tolerated, a.forks)
	if err != nil {
		return nil, err
	}
	fs := NewFS()
	if err := fs.File("/etc/fstab", []byte(fstab)); err != nil {
		return nil, err
	}
	for _, d := range mountPoints {
		if err := fs.Dir(d); err != nil {
			return nil, err
		}
	}
	for p, data := range a.files {
		if err := fs.File(p, data); err != nil {
			return nil, err
		}
	}
	for _, ob := range objs {
		data, err := os.ReadFile(ob.host)
		if err != nil {
			return nil, err
		}
		if err := fs.File(ob.guest, data); err != nil {
			return nil, fmt.Errorf("%s: %w", ob.host, err)
		}
	}
	im := &Image{App: o.App, KernelVersion: o.Kernel.Version, KernelSource: o.Kernel.Path, Kernel: "loader.elf", Disk: "disk.raw",
		Cmdline: cmdline(a.command), Ready: a.ready, Libraries: libs, Supplied: o.Kernel.Supplied, Warnings: warnings, Dir: o.OutDir}
	if goApp := objs[0].goProgram; goApp && o.Kernel.NeedsVDSOFile {
		if o.Bootstrap == "" {
			return nil, fmt.Errorf("%w: the OSv kernel %s (%s) takes libvdso.so from the disk, which Go programs such as %s need: give --bootstrap (bootstrap: in a target) with the osv.bootstrap.mpm.x86_64 of the kernel's release, or use a later kernel, which embeds it", ErrVDSO, o.Kernel.Path, orUnknown(o.Kernel.Version), objs[0].host)
		}
		vdso, err := readVDSO(o.Bootstrap)
		if err != nil {
			return nil, err
		}
		if err := fs.File(VDSOPath, vdso); err != nil {
			return nil, err
		}
		im.VDSO = true
	}
	if err := writeImage(im, o.OutDir, o.Kernel.ELF, fs); err != nil {
		return nil, err
	}
	return im, nil
}

// writeDisk writes the disk; a variable so a test can make it fail.
var writeDisk = WriteDisk

// writeImage writes im's kernel, disk and description into dir without
// leaving a torn image there: everything is written into a temporary
// directory beside dir, removed on failure, which becomes dir when dir
// does not exist, or whose files replace dir's (the description, the
// file that makes dir an image, removed first and renamed in last) when
// it does.
func writeImage(im *Image, dir string, kernel []byte, fs *FS) error {
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // empty after the renames
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	im.Dir = tmp
	if im.KernelBytes, im.KernelSHA256, err = writeFile(im.KernelPath(), func(w io.Writer) error {
		_, err := w.Write(kernel)
		return err
	}); err != nil {
		return err
	}
	if im.DiskBytes, im.DiskSHA256, err = writeFile(im.DiskPath(), func(w io.Writer) error {
		_, err := writeDisk(w, fs)
		return err
	}); err != nil {
		return err
	}
	im.Dir = dir
	j, _ := json.MarshalIndent(im, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, ImageFile), append(j, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err == nil {
		return nil
	}
	if st, err := os.Stat(dir); err != nil {
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("image directory %s: not a directory", dir)
	}
	if err := os.Remove(filepath.Join(dir, ImageFile)); err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, name := range []string{im.Kernel, im.Disk, ImageFile} {
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// collect reads the application's ELF files and the libraries they need,
// transitively, leaving out those the kernel supplies; the first object is
// the program. libs are the libraries' disk paths, sorted.
func collect(ctx context.Context, k *Kernel, a *app) (objs []*elfObject, libs []string, err error) {
	var progs []string
	for p := range a.elfs {
		progs = append(progs, p)
	}
	sort.Strings(progs)
	seen := map[string]bool{}
	var queue []*elfObject
	for _, p := range progs {
		ob, err := readObject(a.elfs[p], p)
		if err != nil {
			return nil, nil, err
		}
		ob.program = true
		queue = append(queue, ob)
	}
	for i := 0; i < len(queue); i++ {
		ob := queue[i]
		var found map[string]string
		for _, name := range ob.needed {
			if k.Supplies(name) || seen[name] {
				continue
			}
			if found == nil {
				if found, err = linuximage.HostLibraries(ctx, ob.host); err != nil {
					return nil, nil, err
				}
			}
			host, ok := found[name]
			if !ok {
				return nil, nil, fmt.Errorf("%w: %s needs %s, which ldd does not list", linuximage.ErrMissingLibrary, ob.host, name)
			}
			if real, err := filepath.EvalSymlinks(host); err == nil {
				host = real
			}
			seen[name] = true
			lib, err := readObject(host, path.Join(LibDir, name))
			if err != nil {
				return nil, nil, err
			}
			queue = append(queue, lib)
			libs = append(libs, lib.guest)
		}
	}
	sort.Strings(libs)
	return queue, libs, nil
}

// Bounds of readVDSO, in bytes: an OSv release's bootstrap package is
// about 1 MB (a few MB decompressed), its libvdso.so about 20 KB.
const (
	maxBootstrapBytes     = 256 << 20 // the file and what it decompresses to
	maxBootstrapVDSOBytes = 16 << 20
)

// readVDSO takes libvdso.so out of an OSv bootstrap package (a gzip tar):
// a regular file within maxBootstrapBytes, compressed and not, holding a
// libvdso.so within maxBootstrapVDSOBytes.
func readVDSO(bootstrap string) ([]byte, error) {
	f, _, err := regfile.Open(bootstrap, maxBootstrapBytes)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("bootstrap %s: %w (want an OSv release's osv.bootstrap.mpm.x86_64, a gzip tar)", bootstrap, err)
	}
	lr := &io.LimitedReader{R: zr, N: maxBootstrapBytes}
	tr := tar.NewReader(lr)
	for {
		h, err := tr.Next()
		if lr.N == 0 {
			return nil, fmt.Errorf("bootstrap %s: decompresses to more than %s (want an OSv release's osv.bootstrap.mpm.x86_64)", bootstrap, regfile.Size(maxBootstrapBytes))
		}
		if err == io.EOF {
			return nil, fmt.Errorf("bootstrap %s: holds no libvdso.so", bootstrap)
		}
		if err != nil {
			return nil, fmt.Errorf("bootstrap %s: %w (truncated or corrupt?)", bootstrap, err)
		}
		if path.Base(h.Name) == "libvdso.so" && h.Typeflag == tar.TypeReg {
			if h.Size > maxBootstrapVDSOBytes {
				return nil, fmt.Errorf("bootstrap %s: %s: %d bytes, over the %s a libvdso.so may have", bootstrap, h.Name, h.Size, regfile.Size(maxBootstrapVDSOBytes))
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("bootstrap %s: %w", bootstrap, err)
			}
			return b, nil
		}
	}
}

// ReadImage reads an image directory written by Build and checks its
// files against what image.json records: their sizes every time, their
// SHA-256 when they changed since last checked (filesum). A file that is
// missing or differs is an error naming it (filesum.ErrMismatch).
func ReadImage(dir string) (*Image, error) {
	desc := filepath.Join(dir, ImageFile)
	data, err := regfile.ReadFile(desc, maxImageFileBytes)
	if err != nil {
		return nil, fmt.Errorf("osv image: %w", err)
	}
	var im Image
	if err := json.Unmarshal(data, &im); err != nil {
		return nil, fmt.Errorf("%s: %w", desc, err)
	}
	im.Dir = dir
	for _, f := range []struct {
		field, name string
		sum         filesum.Sum
	}{
		{"kernel", im.Kernel, filesum.Sum{Bytes: im.KernelBytes, SHA256: im.KernelSHA256}},
		{"disk", im.Disk, filesum.Sum{Bytes: im.DiskBytes, SHA256: im.DiskSHA256}},
	} {
		if f.name == "" || f.name != filepath.Base(f.name) || f.name == "." || f.name == ".." {
			return nil, fmt.Errorf("%s: %s %q: want a file name in the image directory", desc, f.field, f.name)
		}
		if err := filesum.Verify(filepath.Join(dir, f.name), f.sum); err != nil {
			return nil, fmt.Errorf("osv image %s: %w", dir, err)
		}
	}
	return &im, nil
}

// maxImageFileBytes bounds image.json (bytes): a few KB in use.
const maxImageFileBytes = 1 << 20

// writeFile writes a file through write and returns its size and SHA-256.
func writeFile(p string, write func(io.Writer) error) (int64, string, error) {
	f, err := os.Create(p)
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	c := &countWriter{w: io.MultiWriter(f, h)}
	err = write(c)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return c.n, hex.EncodeToString(h.Sum(nil)), err
}

func orUnknown(v string) string {
	if v == "" {
		return "version unknown"
	}
	return v
}
