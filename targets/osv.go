package targets

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ukbench/ukbench/internal/privdir"
	"github.com/ukbench/ukbench/targets/osvimage"
	"github.com/ukbench/ukbench/targets/servers"
	"github.com/ukbench/ukbench/vm"
)

// OSv facts this file relies on (from OSv's source, scripts/imgedit.py and
// arch/x64/boot16.S): a disk image carries the command line at byte 512,
// NUL-terminated, in an area of 63 sectors; booted with -kernel, OSv reads
// it from -append instead. Network options lead the line. OSv prints
// "Booted up in N ms" once its kernel is up.
const (
	osvCmdlineOffset = 512
	osvCmdlineMax    = 63*512 - 1
	// OSvBootedLine is what OSv prints when its kernel has booted.
	OSvBootedLine = "Booted up in"
)

// osvCmdline puts the network options in front of the application's line:
// a static address under tap; under user networking OSv's DHCP gets
// 10.0.2.15 from QEMU.
func osvCmdline(spec Spec, shape VMShape) (string, error) {
	line := spec.Cmdline
	if shape.Network == vm.NetTap {
		ip, mask, err := maskOf(shape.GuestIP)
		if err != nil {
			return "", fmt.Errorf("vm.guest_ip: %w", err)
		}
		net := fmt.Sprintf("--ip=eth0,%s,%s", ip, mask)
		if shape.Gateway != "" {
			net += " --defaultgw=" + shape.Gateway + " --nameserver=" + shape.Gateway
		}
		line = net + " " + line
	}
	return strings.TrimSpace(line), nil
}

// osvReady is the console line that says an OSv guest running cmdline is
// up when the target names none: ukbench's ready line for a ukbench
// command line, else OSv's own.
func osvReady(cmdline string) string {
	if strings.Contains(cmdline, "ukbench") {
		return servers.ReadyPrefix
	}
	return OSvBootedLine
}

func prepareOSv(ctx context.Context, spec Spec, shape VMShape, o BootOptions, cfg *vm.Config, p *guestPlan) error {
	if spec.Kernel != "" || isOSvImageDir(spec.Image) {
		return prepareComposedOSv(ctx, spec, shape, o, cfg, p)
	}
	p.ready = spec.ReadyLine
	if p.ready == "" {
		p.ready = osvReady(spec.Cmdline)
	}
	line, err := osvCmdline(spec, shape)
	if err != nil {
		return err
	}
	if isELF(spec.Image) {
		cfg.Kernel, cfg.Append = spec.Image, line
		return nil
	}
	format, err := diskFormat(spec.Image)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	cfg.DiskFormat = format
	if spec.Cmdline == "" && shape.Network != vm.NetTap {
		// Boot the image with the command line it carries; snapshot=on
		// keeps the file unmodified.
		cfg.Disk = spec.Image
		return nil
	}
	// A private raw copy carries our command line; the user's file is
	// only read. The copy lives in a private directory, removed when the
	// machine stops; a dry run names it and writes nothing.
	if len(line) > osvCmdlineMax {
		return fmt.Errorf("cmdline: %d bytes, OSv's area holds %d", len(line), osvCmdlineMax)
	}
	if o.dryRun {
		// The user's image stands in for the copy while the config is
		// checked; the command line shows the copy's name.
		cfg.Disk, cfg.DiskFormat = spec.Image, "raw"
		p.dryDisk = filepath.Join(vm.PrivateDirPlaceholder, osvPrivateName(o.RunID))
		return nil
	}
	d, err := privdir.Make("osv")
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	priv, err := osvPrivateImage(ctx, spec.Image, line, d.Path, o.RunID)
	if err != nil {
		d.Remove()
		return err
	}
	p.private = d
	cfg.Disk, cfg.DiskFormat = priv, "raw"
	return nil
}

func osvPrivateName(id string) string {
	if id == "" {
		id = "osv"
	}
	return id + "-osv.raw"
}

// osvPrivateImage writes a raw copy of an OSv disk image with cmdline set
// in its command-line area, and returns its path.
func osvPrivateImage(ctx context.Context, image, cmdline, dir, id string) (string, error) {
	if len(cmdline) > osvCmdlineMax {
		return "", fmt.Errorf("cmdline: %d bytes, OSv's area holds %d", len(cmdline), osvCmdlineMax)
	}
	dst := filepath.Join(dir, osvPrivateName(id))
	qcow, err := isQcow2(image)
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	if qcow {
		out, err := exec.CommandContext(ctx, "qemu-img", "convert", "-O", "raw", image, dst).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("image: qemu-img convert %s: %v: %s", image, err, strings.TrimSpace(string(out)))
		}
	} else if err := copyPlain(image, dst); err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	return dst, writeOSvCmdline(dst, cmdline)
}

// writeOSvCmdline sets the command line of a raw OSv image in place.
func writeOSvCmdline(raw, cmdline string) error {
	f, err := os.OpenFile(raw, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(append([]byte(cmdline), 0), osvCmdlineOffset); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// isOSvImageDir reports whether path is a directory that `ukbench image
// osv` wrote (it holds osvimage.ImageFile).
func isOSvImageDir(path string) bool {
	if path == "" {
		return false
	}
	st, err := os.Stat(filepath.Join(path, osvimage.ImageFile))
	return err == nil && st.Mode().IsRegular()
}

// diskFormat tells a qcow2 image from a raw disk with a boot sector (the
// two forms OSv's build writes); anything else is refused by name.
func diskFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b [512]byte
	n, _ := io.ReadFull(f, b[:])
	switch {
	case n >= 4 && string(b[:4]) == "QFI\xfb":
		return "qcow2", nil
	case n == 512 && b[510] == 0x55 && b[511] == 0xaa:
		return "raw", nil
	}
	return "", fmt.Errorf("%s: unknown image format: neither an ELF kernel, a qcow2 image nor a raw disk with a boot sector", path)
}

func isQcow2(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false, err
	}
	return string(b[:]) == "QFI\xfb", nil
}

func copyPlain(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
