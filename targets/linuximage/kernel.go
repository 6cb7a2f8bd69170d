// Package linuximage builds the Linux guest ukbench boots: a distribution
// kernel (Debian's linux-image package, unpacked without installing) and an
// initramfs written in Go that holds the virtio modules, ukbench's init and
// the server.
package linuximage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoKernel is returned when no kernel can be found or fetched.
var ErrNoKernel = errors.New("no guest kernel")

// Kernel is an unpacked kernel: its image and its modules tree.
type Kernel struct {
	Version    string // e.g. 6.1.0-56-amd64
	Image      string // path of vmlinuz
	ModulesDir string // lib/modules/VERSION
	Package    string // the Debian package it came from, if any
	// VmlinuxDir is where the uncompressed kernel extracted from Image is
	// kept (PVHKernel): the unpacked package's boot directory when ukbench
	// unpacked it into its cache; "" for a tree of the user's, which
	// ukbench does not write into.
	VmlinuxDir string
}

// FindKernel finds the kernel in an unpacked package or root tree: ROOT/boot/vmlinuz-V
// and ROOT/lib/modules/V (or ROOT/usr/lib/modules/V).
func FindKernel(root string) (*Kernel, error) {
	imgs, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	sort.Strings(imgs)
	for i := len(imgs) - 1; i >= 0; i-- {
		v := strings.TrimPrefix(filepath.Base(imgs[i]), "vmlinuz-")
		for _, mods := range []string{filepath.Join(root, "lib", "modules", v), filepath.Join(root, "usr", "lib", "modules", v)} {
			if st, err := os.Stat(mods); err == nil && st.IsDir() {
				k := &Kernel{Version: v, Image: imgs[i], ModulesDir: mods}
				if fileExists(filepath.Join(root, completeMark)) {
					k.VmlinuxDir = filepath.Join(root, "boot")
				}
				return k, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s holds no boot/vmlinuz-V with lib/modules/V", ErrNoKernel, root)
}

// DefaultPackage is the Debian package whose kernel the guest runs.
const DefaultPackage = "linux-image-amd64"

// FetchDebianKernel makes sure the kernel of a Debian kernel image package
// (CheckKernelPackage) is unpacked under cacheDir and returns it. A metapackage (linux-image-amd64) is
// resolved to the versioned package it depends on. It runs apt-cache,
// apt-get download and dpkg -x; nothing is installed. An unpacked kernel
// already in the cache is reused.
//
// log, if not nil, is told when a package is downloaded.
func FetchDebianKernel(ctx context.Context, cacheDir, pkg string, log io.Writer) (*Kernel, error) {
	if pkg == "" {
		pkg = DefaultPackage
	}
	if err := CheckKernelPackage(pkg); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoKernel, err)
	}
	real, err := resolvePackage(ctx, pkg)
	if err != nil {
		return nil, err
	}
	if err := CheckKernelPackage(real); err != nil {
		return nil, fmt.Errorf("%w: apt-cache depends %s named %w", ErrNoKernel, pkg, err)
	}
	root := filepath.Join(cacheDir, real)
	if k, err := FindKernel(root); err == nil && fileExists(filepath.Join(root, completeMark)) {
		k.Package = real
		return k, nil
	}
	debs := filepath.Join(cacheDir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, err
	}
	if log != nil {
		fmt.Fprintf(log, "kernel: apt-get download %s, unpacked into %s\n", real, root)
	}
	dl := exec.CommandContext(ctx, "apt-get", "download", real)
	dl.Dir = debs
	if out, err := dl.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return nil, fetchInterrupted(ctx, real)
		}
		return nil, fmt.Errorf("%w: apt-get download %s: %v: %s", ErrNoKernel, real, err, lastLine(out))
	}
	matches, _ := filepath.Glob(filepath.Join(debs, real+"_*.deb"))
	if len(matches) == 0 {
		return nil, fmt.Errorf("%w: apt-get download %s left no .deb in %s", ErrNoKernel, real, debs)
	}
	sort.Strings(matches)
	tmp := root + ".partial"
	os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "dpkg", "-x", matches[len(matches)-1], tmp).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		if ctx.Err() != nil {
			return nil, fetchInterrupted(ctx, real)
		}
		return nil, fmt.Errorf("%w: dpkg -x: %v: %s", ErrNoKernel, err, lastLine(out))
	}
	os.RemoveAll(root)
	if err := os.Rename(tmp, root); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, completeMark), nil, 0o644); err != nil {
		return nil, err
	}
	os.Remove(matches[len(matches)-1])
	k, err := FindKernel(root)
	if err != nil {
		return nil, err
	}
	k.Package = real
	return k, nil
}

// completeMark marks a package ukbench unpacked into its cache in full.
const completeMark = ".complete"

// fetchInterrupted is the error of a fetch that ctx ended: the cause, not a
// missing kernel.
func fetchInterrupted(ctx context.Context, pkg string) error {
	return fmt.Errorf("fetching kernel package %s interrupted: %w", pkg, context.Cause(ctx))
}

// resolvePackage follows a metapackage to the linux-image package it
// depends on.
func resolvePackage(ctx context.Context, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", pkg).CombinedOutput()
	if err != nil && ctx.Err() != nil {
		return "", fetchInterrupted(ctx, pkg)
	}
	if err != nil {
		return "", fmt.Errorf("%w: apt-cache depends %s: %v: %s (is it a Debian machine after apt-get update?)", ErrNoKernel, pkg, err, lastLine(out))
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") && !strings.Contains(f[1], "<") {
			return f[1], nil
		}
	}
	return pkg, nil // already a versioned package
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
