package linuximage

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/ukbench/ukbench/internal/filesum"
	"github.com/ukbench/ukbench/internal/regfile"
	"github.com/ukbench/ukbench/targets/guestinit"
	"github.com/ukbench/ukbench/targets/servers"
)

// Options says what image to build.
type Options struct {
	App    string  // AppNames
	Kernel *Kernel // from FindKernel or FetchDebianKernel
	// Vmlinux, when set, is the uncompressed kernel (PVHKernel) the image
	// boots through PVH instead of Kernel.Image; NoPVH says why not when
	// it is not set (PVHKernel's error), for image.json.
	Vmlinux string
	NoPVH   string
	Binary  string // ukbench, the guest's init (and server of the dns and http apps)
	Machine string // pc (default), q35 or microvm: decides the virtio transport
	Sockets int    // DNS sockets of `serve dns` (default servers.DefaultDNSSockets)
	OutDir  string
}

// Image is a built guest. It is written as image.json in its directory.
type Image struct {
	App           string `json:"app"`
	KernelVersion string `json:"kernel_version"`
	KernelPackage string `json:"kernel_package,omitempty"`
	Kernel        string `json:"kernel"` // file name in the image directory
	// BootPath is how the kernel boots: BootPVH (Kernel is the vmlinux)
	// or BootBzImage ("" in images written before PVH: a bzImage); NoPVH
	// says why not PVH.
	BootPath     string   `json:"boot_path,omitempty"`
	NoPVH        string   `json:"no_pvh,omitempty"`
	Initrd       string   `json:"initrd"`
	KernelBytes  int64    `json:"kernel_bytes"`
	InitrdBytes  int64    `json:"initrd_bytes"`
	KernelSHA256 string   `json:"kernel_sha256"`
	InitrdSHA256 string   `json:"initrd_sha256"`
	Modules      []string `json:"modules"`
	Ready        string   `json:"ready_line"`
	// Libraries are the shared objects in the initramfs (paths there):
	// the loader and libraries of a dynamically linked ukbench, NSD or
	// lighttpd, copied from the host.
	Libraries []string `json:"libraries,omitempty"`
	// HostApp is the host server the image runs (nsd, bind, lighttpd,
	// apache): its binary, version and settings.
	HostApp *HostApp `json:"host_app,omitempty"`
	// Dir is the image's directory (not stored).
	Dir string `json:"-"`
}

// ImageFile is the description file in an image directory.
const ImageFile = "image.json"

// KernelPath and InitrdPath are the absolute paths of the image's files.
func (im *Image) KernelPath() string { return filepath.Join(im.Dir, im.Kernel) }
func (im *Image) InitrdPath() string { return filepath.Join(im.Dir, im.Initrd) }

// Build writes a guest image (kernel and initramfs) to o.OutDir.
func Build(ctx context.Context, o Options) (*Image, error) {
	if o.Kernel == nil {
		return nil, fmt.Errorf("%w: none given", ErrNoKernel)
	}
	if o.Sockets == 0 {
		o.Sockets = servers.DefaultDNSSockets
	}
	if o.Sockets < 0 || o.Sockets > servers.MaxDNSSockets {
		return nil, fmt.Errorf("image: sockets %d: want 1 to %d", o.Sockets, servers.MaxDNSSockets)
	}
	if o.OutDir == "" {
		return nil, fmt.Errorf("image: no output directory")
	}
	app, err := appFor(ctx, o.App, o.Sockets)
	if err != nil {
		return nil, err
	}
	// /init is ukbench itself: run as PID 1 it is the guest init. A
	// dynamically linked one (cgo, as go build and go install make it)
	// brings its loader and libraries.
	if err := checkGuestBinary(o.Binary); err != nil {
		return nil, err
	}
	if err := app.withLibraries(ctx, o.Binary, "/init"); err != nil {
		return nil, fmt.Errorf("server binary: %w", err)
	}
	roots := NetModules
	if o.Machine == "microvm" {
		roots = MMIOModules
	}
	mods, err := ModuleOrder(o.Kernel.ModulesDir, roots)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	var cpio bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&cpio, gzip.BestSpeed)
	a := newNewcWriter(zw)
	for _, d := range []string{"/bin", "/sbin", "/etc", "/proc", "/sys", "/dev", "/tmp", "/run", "/var", "/usr/lib"} {
		if err := a.Dir(d); err != nil {
			return nil, err
		}
	}
	if err := a.CharDev("/dev/console", 0o600, 5, 1); err != nil {
		return nil, err
	}
	if err := a.CharDev("/dev/null", 0o666, 1, 3); err != nil {
		return nil, err
	}
	cfg := guestinit.Config{Command: app.command, Dirs: app.dirs, StartedLine: app.started}
	var modNames []string
	for _, m := range mods {
		rel, _ := filepath.Rel(o.Kernel.ModulesDir, m)
		in := filepath.Join("/lib/modules", o.Kernel.Version, rel)
		data, err := os.ReadFile(m)
		if err != nil {
			return nil, err
		}
		if err := a.File(in, 0o644, data); err != nil {
			return nil, err
		}
		cfg.Modules = append(cfg.Modules, in)
		modNames = append(modNames, moduleName(m))
	}
	for _, p := range slices.Sorted(maps.Keys(app.files)) {
		f := app.files[p]
		data := f.data
		if f.src != "" {
			if data, err = os.ReadFile(f.src); err != nil {
				return nil, err
			}
		}
		if err := a.File(p, f.perm, data); err != nil {
			return nil, err
		}
	}
	for l, target := range app.links {
		if err := a.Symlink(l, target); err != nil {
			return nil, err
		}
	}
	cj, _ := json.MarshalIndent(cfg, "", "  ")
	if err := a.File(guestinit.ConfigPath, 0o644, cj); err != nil {
		return nil, err
	}
	if err := a.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	sort.Strings(app.libs)
	im := &Image{App: o.App, KernelVersion: o.Kernel.Version, KernelPackage: o.Kernel.Package,
		Kernel: "vmlinuz", BootPath: BootBzImage, NoPVH: o.NoPVH, Initrd: "initramfs.cpio.gz", Modules: modNames,
		Ready: ReadyLine(o.App), Libraries: app.libs, HostApp: app.host, Dir: o.OutDir}
	if o.Vmlinux != "" {
		// ukbench's own cached file: linked, not copied (66 MB per image).
		im.Kernel, im.BootPath, im.NoPVH = "vmlinux", BootPVH, ""
		im.KernelBytes, im.KernelSHA256, err = linkOrCopy(o.Vmlinux, im.KernelPath())
		got := filesum.Sum{Bytes: im.KernelBytes, SHA256: im.KernelSHA256}
		if want, rerr := filesum.Recorded(o.Vmlinux); err == nil && rerr == nil && got != want {
			// Never an image of a damaged kernel: PVHKernel checks it
			// before; this holds for every caller.
			os.Remove(im.KernelPath())
			err = fmt.Errorf("vmlinux %s: %w: %d bytes, SHA-256 %.16s; extracted as %d bytes, %.16s", o.Vmlinux, filesum.ErrMismatch, got.Bytes, got.SHA256, want.Bytes, want.SHA256)
		}
	} else {
		im.KernelBytes, im.KernelSHA256, err = copyFile(o.Kernel.Image, im.KernelPath())
	}
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(im.InitrdPath(), cpio.Bytes(), 0o644); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(cpio.Bytes())
	im.InitrdBytes, im.InitrdSHA256 = int64(cpio.Len()), hex.EncodeToString(sum[:])
	j, _ := json.MarshalIndent(im, "", "  ")
	if err := os.WriteFile(filepath.Join(o.OutDir, ImageFile), append(j, '\n'), 0o644); err != nil {
		return nil, err
	}
	return im, nil
}

// ReadImage reads an image directory written by Build and checks its
// files against what image.json records: their sizes every time, their
// SHA-256 when they changed since last checked (filesum). A file that is
// missing or differs is an error naming it (filesum.ErrMismatch).
func ReadImage(dir string) (*Image, error) {
	desc := filepath.Join(dir, ImageFile)
	data, err := regfile.ReadFile(desc, maxImageFileBytes)
	if err != nil {
		return nil, fmt.Errorf("linux image: %w", err)
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
		{"initrd", im.Initrd, filesum.Sum{Bytes: im.InitrdBytes, SHA256: im.InitrdSHA256}},
	} {
		if err := checkImageFile(dir, f.field, f.name, f.sum); err != nil {
			return nil, fmt.Errorf("linux image %s: %w", dir, err)
		}
	}
	return &im, nil
}

// maxImageFileBytes bounds image.json (bytes): a few KB in use.
const maxImageFileBytes = 1 << 20

// checkImageFile checks a file an image.json names (field): a plain name
// in dir, whose size and SHA-256 are sum.
func checkImageFile(dir, field, name string, sum filesum.Sum) error {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return fmt.Errorf("%s: %s %q: want a file name in the image directory", ImageFile, field, name)
	}
	if len(sum.SHA256) != 64 {
		return fmt.Errorf("%s: %s_sha256 %q: want 64 hex digits", ImageFile, field, sum.SHA256)
	}
	return filesum.Verify(filepath.Join(dir, name), sum)
}

// Boot is the image's boot path (BootBzImage for an image written before
// there were two).
func (im *Image) Boot() string {
	if im.BootPath == "" {
		return BootBzImage
	}
	return im.BootPath
}

// linkOrCopy hard-links src to dst (the cached vmlinux is large and the
// same in every image), or copies it across file systems, and returns its
// size and SHA-256. src must be a file nobody rewrites in place.
func linkOrCopy(src, dst string) (int64, string, error) {
	if err := os.Link(src, dst); err != nil {
		return copyFile(src, dst)
	}
	f, err := os.Open(dst)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func copyFile(src, dst string) (int64, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, hex.EncodeToString(h.Sum(nil)), err
}
