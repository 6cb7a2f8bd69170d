package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/ukbench/ukbench/internal/cachedir"
	"github.com/ukbench/ukbench/targets/linuximage"
	"github.com/ukbench/ukbench/targets/osvimage"
	"github.com/ukbench/ukbench/targets/servers"
)

const imageUsage = `Usage: ukbench image linux --app dns|http|nsd|bind|lighttpd|apache -o DIR [flags]
       ukbench image osv --kernel FILE --app dns|http|lighttpd -o DIR [flags]

linux: builds a Linux guest: a Debian kernel (fetched with apt-get download
and unpacked, never installed, unless --kernel-root gives one) and an
initramfs holding the virtio modules, ukbench's init and the server. The
kernel boots through PVH when Debian's bzImage holds a vmlinux with a PVH
entry (it is extracted once and cached), else as the bzImage.

osv: composes an OSv guest from your OSv kernel (loader-stripped.elf, or a
release's osv-loader.elf.x86_64.gz) and a ROFS disk ukbench writes: the app
(dns, http: the PIE ukbench; lighttpd: this host's) and its libraries,
minus those the kernel supplies. An app that needs what OSv lacks (NSD
forks) is refused before anything is written.
`

// imageFlags are the flags of each kind; a flag of the other kind is an
// error.
var imageFlags = map[string][]string{
	"linux": {"kernel-root", "kernel-package", "machine"},
	"osv":   {"kernel", "bootstrap"},
}

func runImage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("image", imageUsage, stderr)
	app := fs.String("app", linuximage.AppDNS, "server: "+linuximage.AppNames+" (osv: dns, http or lighttpd)")
	out := fs.String("o", "", "output directory (required)")
	kroot := fs.String("kernel-root", "", "linux: an unpacked kernel package or root tree (boot/vmlinuz-V, lib/modules/V)")
	kpkg := fs.String("kernel-package", linuximage.DefaultPackage, "linux: Debian kernel image package to fetch (linux-image-…)")
	machine := fs.String("machine", "pc", "linux: machine type the image is for: pc, q35 or microvm")
	kernel := fs.String("kernel", "", "osv: your OSv kernel, ELF or gzip (required)")
	bootstrap := fs.String("bootstrap", "", "osv: an OSv release's osv.bootstrap.mpm.x86_64, for the /libvdso.so a v0.57.0 kernel needs for Go programs")
	binary := fs.String("binary", "", "ukbench to put in the image (linux: static or dynamically linked, default this executable; osv: a PIE, default this executable if it is one, else ukbench-pie beside it)")
	sockets := fs.Int("sockets", servers.DefaultDNSSockets, "UDP sockets of the guest's DNS server (1 to 256)")
	args, err := parseFlags(fs, args, stdout)
	switch {
	case err != nil:
		return err
	case len(args) == 0 || (args[0] != "linux" && args[0] != "osv"):
		fmt.Fprint(stderr, imageUsage)
		return usageError("image: want linux or osv")
	case len(args) > 1:
		return usageError("image %s: unexpected argument %q", args[0], args[1])
	}
	kind := args[0]
	var wrong error
	fs.Visit(func(f *flag.Flag) {
		for other, names := range imageFlags {
			for _, n := range names {
				if other != kind && f.Name == n && wrong == nil {
					wrong = usageError("image %s: --%s is for image %s", kind, n, other)
				}
			}
		}
	})
	switch {
	case wrong != nil:
		return wrong
	case *out == "":
		return usageError("image %s: -o DIR is required", kind)
	case *sockets < 1 || *sockets > servers.MaxDNSSockets:
		return usageError("image %s: --sockets %d: want 1 to %d", kind, *sockets, servers.MaxDNSSockets)
	case kind == "osv" && !osvimage.IsApp(*app):
		return usageError("image osv: --app %q: want %s", *app, osvimage.AppNames)
	case kind == "linux" && !linuximage.IsApp(*app):
		return usageError("image linux: --app %q: want %s", *app, linuximage.AppNames)
	case kind == "linux" && *kroot == "":
		if err := linuximage.CheckKernelPackage(*kpkg); err != nil {
			return usage(fmt.Errorf("image linux: --kernel-package %w", err))
		}
	}
	if kind == "osv" {
		return imageOSv(ctx, osvimage.Options{App: *app, Binary: *binary, Bootstrap: *bootstrap, Sockets: *sockets, OutDir: *out}, *kernel, stdout, stderr)
	}
	if *binary == "" {
		b, err := linuximage.DefaultBinary()
		if err != nil {
			return err
		}
		*binary = b
	}
	var k *linuximage.Kernel
	if *kroot != "" {
		k, err = linuximage.FindKernel(*kroot)
	} else {
		cache, cerr := cachedir.Dir()
		if cerr != nil {
			return cerr
		}
		k, err = linuximage.FetchDebianKernel(ctx, cache+"/kernels", *kpkg, stderr)
	}
	if err != nil {
		return err
	}
	cache, err := cachedir.Dir()
	if err != nil {
		return err
	}
	vmlinux, noPVH, err := linuximage.BootKernel(k, cache, stderr)
	if err != nil {
		return err
	}
	im, err := linuximage.Build(ctx, linuximage.Options{App: *app, Kernel: k, Vmlinux: vmlinux, NoPVH: noPVH, Binary: *binary, Machine: *machine, Sockets: *sockets, OutDir: *out})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "image %s: app %s, kernel %s, boot %s\n", *out, im.App, im.KernelVersion, im.Boot())
	if im.NoPVH != "" {
		fmt.Fprintf(stdout, "  not PVH: %s\n", im.NoPVH)
	}
	if h := im.HostApp; h != nil {
		fmt.Fprintf(stdout, "  app: %s (%s)\n", h.Binary, h.Version)
	}
	fmt.Fprintf(stdout, "  %-18s %10d bytes  sha256 %s\n", im.Kernel, im.KernelBytes, im.KernelSHA256[:16])
	fmt.Fprintf(stdout, "  %-18s %10d bytes  sha256 %s\n", im.Initrd, im.InitrdBytes, im.InitrdSHA256[:16])
	fmt.Fprintf(stdout, "  modules: %v\n", im.Modules)
	if len(im.Libraries) > 0 {
		fmt.Fprintf(stdout, "  libraries: %v\n", im.Libraries)
	}
	return nil
}

// imageOSv composes an OSv image and prints what it holds.
func imageOSv(ctx context.Context, o osvimage.Options, kernel string, stdout, stderr io.Writer) error {
	if kernel == "" {
		return usageError("image osv: --kernel FILE is required (loader-stripped.elf from an OSv build, or a release's osv-loader.elf.x86_64.gz)")
	}
	k, err := osvimage.ReadKernel(kernel)
	if err != nil {
		return usage(err) // bad input: exit 2
	}
	o.Kernel = k
	if o.Binary == "" && (o.App == osvimage.AppDNS || o.App == osvimage.AppHTTP) {
		if o.Binary, err = osvimage.DefaultPIE(); err != nil {
			return usage(err)
		}
	}
	im, err := osvimage.Build(ctx, o)
	if err != nil {
		return osvInputError(err)
	}
	for _, w := range im.Warnings {
		fmt.Fprintln(stderr, "ukbench: warning:", w)
	}
	version := im.KernelVersion
	if version == "" {
		version = "version unknown"
	}
	fmt.Fprintf(stdout, "image %s: app %s, OSv kernel %s (%s)\n", o.OutDir, im.App, kernel, version)
	fmt.Fprintf(stdout, "  %-18s %10d bytes  sha256 %s\n", im.Kernel, im.KernelBytes, im.KernelSHA256[:16])
	fmt.Fprintf(stdout, "  %-18s %10d bytes  sha256 %s\n", im.Disk, im.DiskBytes, im.DiskSHA256[:16])
	fmt.Fprintf(stdout, "  cmdline: %s\n", im.Cmdline)
	if len(im.Libraries) > 0 {
		fmt.Fprintf(stdout, "  libraries: %v\n", im.Libraries)
	}
	fmt.Fprintf(stdout, "  left to the kernel: %v\n", im.Supplied)
	if im.VDSO {
		fmt.Fprintf(stdout, "  /libvdso.so from %s\n", o.Bootstrap)
	}
	return nil
}

// osvInputError marks the composition errors that are the input's (a file
// that is not what it should be, an app OSv cannot run) as bad input.
func osvInputError(err error) error {
	for _, bad := range []error{osvimage.ErrKernel, osvimage.ErrAppBinary, osvimage.ErrNoPIE, osvimage.ErrUnsupported, osvimage.ErrVDSO, osvimage.ErrName} {
		if errors.Is(err, bad) {
			return usage(err)
		}
	}
	return err
}
