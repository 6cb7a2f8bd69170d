package targets

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ukbench/ukbench/internal/privdir"
	"github.com/ukbench/ukbench/results"
	"github.com/ukbench/ukbench/targets/servers"
	"github.com/ukbench/ukbench/vm"
)

// BootOptions are the per-boot settings that are not part of a Spec.
type BootOptions struct {
	// WorkDir receives the console log; it must exist. RunID names the
	// files (e.g. "linux-dns-r1"). A private image copy (an OSv disk with
	// ukbench's command line) goes to a private directory of its own
	// (internal/privdir), removed when the instance stops.
	WorkDir string
	RunID   string
	// Binary is the ukbench (static or dynamically linked) put in Linux
	// images and run natively (default: the running executable).
	Binary string
	// CacheDir keeps fetched kernels and built images (default
	// cachedir.Dir()).
	CacheDir string
	// Timeout bounds the boot, exec to first answer (default 60 s under
	// KVM, 300 s under TCG).
	Timeout time.Duration
	// Log receives progress lines (kernel fetch, image build); may be nil.
	Log io.Writer
	// Accel is the accelerator the caller settled (a campaign's or the
	// boot command's, from vm.ResolveShapeAccel); nil: a guest's Boot
	// resolves vm.WantedAccel("", spec.VM.Accel) itself, $UKBENCH_ACCEL
	// included.
	Accel *vm.AccelChoice
	// Campaign names the campaign (the experiment) a libvirt guest's
	// domain belongs to: ukbench-CAMPAIGN-RUNID-…; default "boot".
	Campaign string

	// dryRun: CommandLine's preparation, which writes nothing (a private
	// copy is named, not made).
	dryRun bool
}

func (o BootOptions) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

func (o BootOptions) withDefaults() (BootOptions, error) {
	if o.WorkDir == "" {
		o.WorkDir = os.TempDir()
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, err
		}
		o.Binary = exe
	}
	return o, nil
}

// ConsolePath is the file a boot with these options writes the guest
// console or the native server's output to: WorkDir/RunID.log (RunID
// "console" when empty, WorkDir the temporary directory when empty). A boot
// that fails before QEMU or the server starts leaves it unwritten.
func (o BootOptions) ConsolePath() string {
	dir := o.WorkDir
	if dir == "" {
		dir = os.TempDir() // as withDefaults
	}
	id := o.RunID
	if id == "" {
		id = "console"
	}
	return filepath.Join(dir, id+".log")
}

// Instance is a booted target. Stop it always; Stop is safe to call more
// than once and from any goroutine.
type Instance struct {
	Spec  Spec
	Accel string // kvm or tcg; results.AccelNone for native
	// AccelReason says why Accel was chosen (the KVM probe's verdict).
	AccelReason string
	// Addr is the HOST:PORT a load generator on the host reaches the
	// server at.
	Addr string
	// Boot holds the boot figures (for native: QEMUStartMS 0, the rest from
	// the server's exec).
	Boot *results.Boot
	// ConsoleLog is the file holding the guest console or the native
	// server's output.
	ConsoleLog string
	// Command is the command line that was run (QEMU's or the server's).
	Command []string
	// Files are the files the target booted (kernel, initrd, disk image,
	// server binary), for the provenance.
	Files []File

	machine vm.Guest
	native  *nativeProc
}

// File is one file a target booted from.
type File struct {
	Role string // kernel, initrd, disk, binary, app
	Path string
	// Version and Config are a host server's (role app): its version
	// line and the settings of the config ukbench wrote for it.
	Version, Config string
	// Boot is the kernel's boot path (role kernel of a Linux guest):
	// linuximage.BootPVH or BootBzImage.
	Boot string
}

// Exited is closed when the guest or server process has exited.
func (i *Instance) Exited() <-chan struct{} {
	if i.machine != nil {
		return i.machine.Exited()
	}
	return i.native.done
}

// ExitReason says why the guest is gone once Exited is closed (QEMU's
// exit, or a libvirt daemon lost: vm.ErrLibvirtLost); nil for native or
// before then.
func (i *Instance) ExitReason() error {
	if i.machine == nil {
		return nil
	}
	select {
	case <-i.machine.Exited():
		return i.machine.Wait(context.Background())
	default:
		return nil
	}
}

// Memory returns QEMU's resident memory now (nil for native).
func (i *Instance) Memory() (*results.Memory, error) {
	if i.machine == nil {
		return nil, nil
	}
	rss, hwm, err := i.machine.Memory()
	if err != nil {
		return nil, err
	}
	return &results.Memory{QEMURSSKiB: rss, QEMUHWMKiB: hwm}, nil
}

// PID is the QEMU or server process ID.
func (i *Instance) PID() int {
	if i.machine != nil {
		return i.machine.PID()
	}
	return i.native.cmd.Process.Pid
}

// Stop shuts the guest down (or stops the server) and releases everything
// started for it.
func (i *Instance) Stop(ctx context.Context) error {
	if i.machine != nil {
		return i.machine.Shutdown(ctx)
	}
	return i.native.stop()
}

// Boot starts a target and returns once it has given a good answer through
// the network, with its boot figures. On error nothing it started is left
// running.
func Boot(ctx context.Context, spec Spec, o BootOptions) (*Instance, error) {
	begun := time.Now()
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("target %s: %w", spec.Label(), err)
	}
	if spec.Optional {
		if err := spec.Available(); err != nil {
			return nil, fmt.Errorf("target %s: %w", spec.Label(), err)
		}
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	switch spec.Kind {
	case KindNative:
		return bootNative(ctx, spec, o, begun)
	}
	p, err := prepareGuest(ctx, spec, o)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", spec.Label(), err)
	}
	return bootGuest(ctx, spec, o, p, begun)
}

// guestPlan is a guest ready to launch.
type guestPlan struct {
	cfg   vm.Config
	accel vm.AccelChoice // settled: cfg.Accel is its kvm or tcg
	ready string         // console line that says the app is up
	files []File
	// bootPath is the Linux guest's kernel boot path; app its host server.
	bootPath string
	app      *File
	addr     func(m vm.Guest) string
	// private is the directory of the guest's private files (the OSv
	// disk copy), nil when it has none; the machine removes it when it
	// stops, after QEMU has exited.
	private *privdir.Dir
	// dryDisk is the disk a dry run shows in place of cfg.Disk (a private
	// copy it did not make).
	dryDisk string
}

// release removes what preparing the plan made, for a plan that will not
// be booted.
func (p *guestPlan) release() {
	if p != nil && p.private != nil {
		p.private.Remove()
	}
}

// CommandLine returns the QEMU command a guest target would run (for
// --dry-run), checking its image but starting nothing and writing no
// private copy (its path is shown under PRIVATE_DIR, as the QMP socket's).
func CommandLine(ctx context.Context, spec Spec, o BootOptions) ([]string, error) {
	o.dryRun = true
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if spec.Kind == KindNative {
		return nativeCommand(spec, o), nil
	}
	p, err := prepareGuest(ctx, spec, o)
	if err != nil {
		return nil, err
	}
	m, err := vm.NewGuest(p.cfg, nil)
	if err != nil {
		return nil, err
	}
	if p.dryDisk == "" || p.cfg.Backend == vm.BackendLibvirt {
		return m.CommandLine(ctx)
	}
	cfg := p.cfg.WithDefaults()
	cfg.Disk = p.dryDisk
	return append([]string{cfg.QEMU}, vm.Args(cfg, p.accel.Accel, vm.PrivateDirPlaceholder+"/qmp.sock")...), nil
}

// settleAccel returns the accelerator o settled, or resolves the spec's.
func settleAccel(ctx context.Context, spec Spec, o BootOptions) (vm.AccelChoice, error) {
	if o.Accel != nil {
		return *o.Accel, nil
	}
	return vm.ResolveShapeAccel(ctx, spec.VM, vm.WantedAccel("", spec.VM.Accel))
}

func prepareGuest(ctx context.Context, spec Spec, o BootOptions) (*guestPlan, error) {
	accel, err := settleAccel(ctx, spec, o)
	if err != nil {
		return nil, err
	}
	spec.VM.Accel = accel.Accel
	shape := spec.VM.WithDefaults()
	cfg := vm.Config{Shape: shape, ConsoleLog: o.ConsolePath(), HostCPUs: spec.HostCPUs, Campaign: o.Campaign, RunID: o.RunID}
	port := spec.GuestPort()
	p := &guestPlan{accel: accel}
	if shape.Network == vm.NetUser {
		proto := "tcp"
		if spec.Protocol() == servers.DNS {
			proto = "udp"
			cfg.Net.Forwards = append(cfg.Net.Forwards, vm.Forward{Proto: "tcp", GuestPort: port})
		}
		cfg.Net.Forwards = append(cfg.Net.Forwards, vm.Forward{Proto: proto, GuestPort: port})
		p.addr = func(m vm.Guest) string {
			for _, f := range m.Forwards() {
				if f.Proto == proto {
					return net.JoinHostPort("127.0.0.1", strconv.Itoa(f.HostPort))
				}
			}
			return ""
		}
	} else {
		ip, _, _ := net.ParseCIDR(shape.GuestIP)
		p.addr = func(vm.Guest) string { return net.JoinHostPort(ip.String(), strconv.Itoa(port)) }
	}
	switch spec.Kind {
	case KindLinux:
		err = prepareLinux(ctx, spec, shape, o, &cfg, p)
	case KindOSv:
		err = prepareOSv(ctx, spec, shape, o, &cfg, p)
	}
	if err != nil {
		p.release()
		return nil, err
	}
	p.cfg = cfg
	for _, f := range []File{{Role: "kernel", Path: cfg.Kernel, Boot: p.bootPath}, {Role: "initrd", Path: cfg.Initrd}} {
		if f.Path != "" {
			p.files = append(p.files, f)
		}
	}
	if p.app != nil {
		p.files = append(p.files, *p.app)
	}
	switch {
	case spec.Kind == KindOSv && spec.Kernel != "":
		// The composed disk, and the user's kernel file the booted (and
		// uncompressed) copy came from.
		p.files = append(p.files, File{Role: "disk", Path: cfg.Disk}, File{Role: "kernel_source", Path: spec.Kernel})
	case spec.Kind == KindOSv && isOSvImageDir(spec.Image):
		p.files = append(p.files, File{Role: "disk", Path: cfg.Disk}) // the composed disk in the image directory
	case spec.Kind == KindOSv && !isELF(spec.Image):
		p.files = append(p.files, File{Role: "disk", Path: spec.Image}) // the user's file, not our private copy
	}
	return p, nil
}

func bootGuest(ctx context.Context, spec Spec, o BootOptions, p *guestPlan, begun time.Time) (*Instance, error) {
	m, err := vm.NewGuest(p.cfg, nil)
	if err != nil {
		p.release()
		return nil, fmt.Errorf("target %s: %w", spec.Label(), err)
	}
	if d := p.private; d != nil {
		// Pushed before Start: it runs last, once QEMU is gone, whether
		// Start fails or the instance is stopped.
		m.OnShutdown("remove private image", d.Remove)
	}
	ready := m.WatchConsole(p.ready)
	if err := m.Start(ctx); err != nil {
		return nil, fmt.Errorf("target %s: %w", spec.Label(), err)
	}
	inst := &Instance{Spec: spec, Accel: m.Accel(), AccelReason: p.accel.Reason, ConsoleLog: p.cfg.ConsoleLog, machine: m, Addr: p.addr(m), Files: p.files}
	inst.Command, _ = m.CommandLine(ctx)
	fail := func(err error) (*Instance, error) {
		// ctx: an interrupt also ends the wait for a libvirt daemon
		// that went away.
		m.Shutdown(ctx)
		return nil, fmt.Errorf("target %s: boot: %w", spec.Label(), err)
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
		if m.Accel() == vm.AccelTCG {
			timeout = 300 * time.Second
		}
	}
	bctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("boot timeout %v", timeout))
	defer cancel()
	consoleReady, err := ready.Wait(bctx)
	if err != nil {
		return fail(err)
	}
	if err := WaitAnswer(bctx, m.Exited(), spec.Protocol(), inst.Addr, spec.ProbeName, spec.ProbePath); err != nil {
		return fail(fmt.Errorf("%w%s", err, tail(m)))
	}
	inst.Boot = &results.Boot{
		QEMUStartMS:    ms(m.QMPReady()),
		ConsoleReadyMS: ms(consoleReady),
		FirstAnswerMS:  ms(time.Since(m.StartedAt())),
		LaunchMS:       ms(m.StartedAt().Sub(begun)),
		Path:           p.bootPath,
	}
	return inst, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// tail formats a guest's last console lines for an error.
func tail(m vm.Guest) string {
	lines := m.ConsoleTail()
	if len(lines) == 0 {
		return " (console empty)"
	}
	return "; last console lines:\n  " + strings.Join(lines, "\n  ")
}
