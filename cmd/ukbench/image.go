package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ukbench/ukbench/internal/cachedir"
	"github.com/ukbench/ukbench/targets/linuximage"
	"github.com/ukbench/ukbench/targets/servers"
)

const imageUsage = `Usage: ukbench image linux --app dns|http|nsd|bind|lighttpd|apache -o DIR [flags]

Builds a Linux guest: a Debian kernel (fetched with apt-get download and
unpacked, never installed, unless --kernel-root gives one) and an initramfs
holding the virtio modules, ukbench's init and the server. The kernel boots
through PVH when Debian's bzImage holds a vmlinux with a PVH entry (it is
extracted once and cached), else as the bzImage.
`

func runImage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("image linux", imageUsage, stderr)
	app := fs.String("app", linuximage.AppDNS, "server: "+linuximage.AppNames)
	out := fs.String("o", "", "output directory (required)")
	kroot := fs.String("kernel-root", "", "an unpacked kernel package or root tree (boot/vmlinuz-V, lib/modules/V)")
	kpkg := fs.String("kernel-package", linuximage.DefaultPackage, "Debian kernel package to fetch")
	machine := fs.String("machine", "pc", "machine type the image is for: pc, q35 or microvm")
	binary := fs.String("binary", "", "ukbench to put in the image, static or dynamically linked (default: this executable)")
	sockets := fs.Int("sockets", servers.DefaultDNSSockets, "UDP sockets of the guest's DNS server")
	args, err := parseFlags(fs, args, stdout)
	switch {
	case err != nil:
		return err
	case len(args) == 0 || args[0] != "linux":
		fmt.Fprint(stderr, imageUsage)
		return usageError("image: want linux")
	case len(args) > 1:
		return usageError("image linux: unexpected argument %q", args[1])
	}
	if *out == "" {
		return usageError("image linux: -o DIR is required")
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
	vmlinux, noPVH, err := linuximage.BootKernel(k, cache)
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
