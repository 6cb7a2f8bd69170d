// Package targets describes what ukbench benchmarks — an OSv image, a Linux
// guest ukbench builds, or a server running natively on the host — and
// boots it: Boot returns a running Instance with the address to load and
// its boot figures.
package targets

import (
	"errors"
	"fmt"
	"os"

	"github.com/ukbench/ukbench/internal/fielderr"
	"github.com/ukbench/ukbench/targets/linuximage"
	"github.com/ukbench/ukbench/targets/servers"
	"github.com/ukbench/ukbench/vm"
)

// Kinds of target.
const (
	KindOSv    = "osv"
	KindLinux  = "linux"
	KindNative = "native"
)

// ErrSkipped marks an optional target whose image is missing.
var ErrSkipped = errors.New("target skipped")

// Spec is one target as a YAML file (`ukbench boot FILE`) or as an entry of
// an experiment's targets list describes it.
type Spec struct {
	// Name labels the target's results (default: its kind).
	Name string `yaml:"name" json:"name"`
	Kind string `yaml:"kind" json:"kind"`
	// App is the server: dns or http (ukbench serve), or nsd, bind,
	// lighttpd or apache (the host's binaries) in the Linux guest. For osv
	// with Kernel it is the application composed onto the disk (dns, http
	// or lighttpd; nsd is refused by the preflight: it forks); with Image
	// it names the protocol the image's application speaks (dns or http).
	App string `yaml:"app" json:"app"`
	// Optional targets whose image is missing are skipped, not failed.
	Optional bool `yaml:"optional" json:"optional,omitempty"`

	// linux: a directory written by `ukbench image linux`, or else a kernel
	// from KernelRoot (an unpacked linux-image package or a root tree) or
	// from KernelPackage (fetched with apt-get download; default
	// linux-image-amd64).
	Image         string `yaml:"image" json:"image,omitempty"`
	KernelRoot    string `yaml:"kernel_root" json:"kernel_root,omitempty"`
	KernelPackage string `yaml:"kernel_package" json:"kernel_package,omitempty"`
	// Port is the guest port the application listens on (default 53 for
	// dns, 80 for http).
	Port int `yaml:"port" json:"port,omitempty"`
	// DNSSockets is `serve dns --sockets` in a guest or natively (default
	// servers.DefaultDNSSockets, at most servers.MaxDNSSockets).
	DNSSockets int `yaml:"dns_sockets" json:"dns_sockets,omitempty"`

	// osv: Image is a directory written by `ukbench image osv` (booted as
	// a composed guest: its kernel, its disk, its command line; app must
	// be the image's), a disk image (usr.img, booted as virtio-blk) or a
	// kernel ELF (loader-stripped.elf, booted with -kernel); Cmdline is the
	// application's command line; ReadyLine the console line that says the
	// application is up (default: servers.ReadyPrefix when the command
	// line runs ukbench, else OSv's "Booted up in").
	Cmdline   string `yaml:"cmdline" json:"cmdline,omitempty"`
	ReadyLine string `yaml:"ready_line" json:"ready_line,omitempty"`
	// osv, composed: Kernel is the user's OSv kernel (loader-stripped.elf,
	// or a release's osv-loader.elf.x86_64.gz), booted with -kernel and a
	// ROFS disk ukbench composes from App (osvimage), cached by content;
	// Cmdline, when set, replaces the composed command line. Bootstrap is a
	// release's osv.bootstrap.mpm.x86_64, for a kernel that takes
	// libvdso.so from the disk (v0.57.0; Go programs need it).
	Kernel    string `yaml:"kernel" json:"kernel,omitempty"`
	Bootstrap string `yaml:"bootstrap" json:"bootstrap,omitempty"`

	// ProbeName is the DNS name the readiness probe asks for (default
	// www.example.com, in ukbench's zone); ProbePath the HTTP path (default /).
	ProbeName string `yaml:"probe_name" json:"probe_name,omitempty"`
	ProbePath string `yaml:"probe_path" json:"probe_path,omitempty"`

	// HostCPUs pins a native server (or a guest's QEMU) to host CPUs.
	HostCPUs []int `yaml:"host_cpus" json:"host_cpus,omitempty"`

	// VM is the guest's shape (ignored for native). In an experiment, the
	// experiment's vm applies to every guest target instead.
	VM VMShape `yaml:"vm" json:"vm"`
}

// VMShape is what every guest target of an experiment shares: vm.Shape,
// with its defaults and its one Validate.
type VMShape = vm.Shape

// FinishedOSvImage reports whether the target is an osv one that boots an
// image the user built (image: a disk image or a kernel ELF), which serves
// the one protocol app names, rather than one ukbench composes for an app:
// from a kernel, or earlier into an image directory (`ukbench image osv`).
// An optional osv target with neither (its variables unset: it is
// skipped) counts as composed.
func (s Spec) FinishedOSvImage() bool {
	return s.Kind == KindOSv && s.Image != "" && !isOSvImageDir(s.Image)
}

// Label is the target's name in results.
func (s Spec) Label() string {
	if s.Name != "" {
		return s.Name
	}
	return s.Kind
}

// Protocol is what the target serves.
func (s Spec) Protocol() servers.Protocol {
	return linuximage.AppProtocol(s.App)
}

// GuestPort is the port the application listens on in the guest.
func (s Spec) GuestPort() int {
	if s.Port != 0 {
		return s.Port
	}
	if s.Protocol() == servers.DNS {
		return linuximage.DNSPort
	}
	return linuximage.HTTPPort
}

// Validate reports the first problem with the spec as a *fielderr.Error
// naming the field.
// Paths are checked to exist unless the target is optional (then
// Available says whether it can run).
func (s Spec) Validate() error {
	if s.Name != "" {
		name := s.Name
		if m := memorySweepName.FindStringSubmatch(name); m != nil {
			name = m[1]
		}
		if err := CheckName(name); err != nil {
			return fielderr.Wrap("name", err)
		}
	}
	switch s.Kind {
	case KindOSv, KindLinux, KindNative:
	default:
		return fielderr.Errorf("kind", "%q: want osv, linux or native", s.Kind)
	}
	switch {
	case s.App == linuximage.AppDNS, s.App == linuximage.AppHTTP:
	case s.App == linuximage.AppNSD, s.App == linuximage.AppLighttpd:
		if s.Kind == KindNative || s.FinishedOSvImage() {
			return fielderr.Errorf("app", "%q runs in the linux target and in an osv target composed from a kernel (an osv image: say dns or http, the protocol it serves)", s.App)
		}
	case linuximage.IsApp(s.App):
		if s.Kind != KindLinux {
			return fielderr.Errorf("app", "%q runs only in the linux target (osv: dns, http or lighttpd composed from a kernel; an osv image: dns or http, the protocol it serves)", s.App)
		}
	default:
		return fielderr.Errorf("app", "%q: want %s", s.App, linuximage.AppNames)
	}
	switch s.Kind {
	case KindOSv:
		if s.Image != "" && s.Kernel != "" {
			return fielderr.Errorf("image/kernel", "give one: kernel composes the disk, image is a finished one")
		}
		if s.Image == "" && s.Kernel == "" && !s.Optional {
			return fielderr.Errorf("kernel", "an osv target needs an OSv kernel (kernel:, composed with app) or a finished image (image:)")
		}
		if s.Bootstrap != "" && s.Kernel == "" {
			return fielderr.Errorf("bootstrap", "only with kernel (it supplies the composed disk's /libvdso.so)")
		}
		if s.KernelRoot != "" || s.KernelPackage != "" {
			return fielderr.Errorf("kernel_root/kernel_package", "only for linux targets (osv: kernel)")
		}
		if s.Cmdline == "" && s.Image != "" && isELF(s.Image) {
			return fielderr.Errorf("cmdline", "an OSv kernel booted with -kernel needs the application's command line")
		}
	case KindLinux:
		if s.Cmdline != "" {
			return fielderr.Errorf("cmdline", "only for osv targets (the linux guest's command comes from app)")
		}
		if s.Kernel != "" || s.Bootstrap != "" {
			return fielderr.Errorf("kernel/bootstrap", "only for osv targets (linux: kernel_root or kernel_package)")
		}
		n := 0
		for _, f := range []string{s.Image, s.KernelRoot, s.KernelPackage} {
			if f != "" {
				n++
			}
		}
		if n > 1 {
			return fielderr.Errorf("image/kernel_root/kernel_package", "give at most one")
		}
		if s.KernelPackage != "" {
			if err := linuximage.CheckKernelPackage(s.KernelPackage); err != nil {
				return fielderr.Wrap("kernel_package", err)
			}
		}
	case KindNative:
		if s.Image != "" || s.Cmdline != "" || s.KernelRoot != "" || s.KernelPackage != "" || s.Kernel != "" || s.Bootstrap != "" {
			return fielderr.Errorf("image/cmdline/kernel", "not for native targets")
		}
	}
	if err := checkText(s); err != nil {
		return err
	}
	if s.Port < 0 || s.Port > 65535 {
		return fielderr.Errorf("port", "%d: want 1 to 65535", s.Port)
	}
	if s.DNSSockets < 0 || s.DNSSockets > servers.MaxDNSSockets {
		return fielderr.Errorf("dns_sockets", "%d: want 1 to %d", s.DNSSockets, servers.MaxDNSSockets)
	}
	if err := CheckHostCPUs("host_cpus", s.HostCPUs); err != nil {
		return err
	}
	if s.Kind != KindNative {
		if err := s.VM.Validate(); err != nil {
			return fielderr.In(err, "vm")
		}
	}
	if !s.Optional {
		return s.missingFile()
	}
	return nil
}

// Available reports whether the target's files exist (wrapping
// ErrSkipped when not), for optional targets.
func (s Spec) Available() error {
	if err := s.missingFile(); err != nil {
		return fmt.Errorf("%w: %w", ErrSkipped, err)
	}
	return nil
}

// missingFile names the first file the spec needs that does not exist.
func (s Spec) missingFile() error {
	for field, p := range map[string]string{"image": s.Image, "kernel_root": s.KernelRoot, "kernel": s.Kernel, "bootstrap": s.Bootstrap} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return fielderr.Wrap(field, err)
		}
	}
	if s.Kind == KindOSv && s.Image == "" && s.Kernel == "" {
		return fielderr.Errorf("kernel", "not set (nor image)")
	}
	return nil
}

// isELF reports whether the file starts with the ELF magic.
func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	_, err = f.ReadAt(b[:], 0)
	return err == nil && string(b[:]) == "\x7fELF"
}
